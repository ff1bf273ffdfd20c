"""IR016 policy-invalid: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.policy_change``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR016", "policy-invalid", "error",
    "Invalid image policy file",
    "The policy file has an error. The entry is ignored and the default applies for it until it is fixed.",
    exemptable=False,
)

DOC = RuleDoc(
    severity="error. Cannot be exempted.",
    table_severity="error",
    table_outside="—",
    text="""\
**What.** The policy file has an error: invalid YAML, an unknown key (with a "did you mean"), a
value of the wrong type, an invalid glob or regular expression, a duplicate key. Each error names
the key path and the line. The entry is ignored and its default applies. Errors in the base
branch's file are reported on every review; when the pull request changes the file, its new
version is checked instead.

**Why.** A typo in a policy file must not silently turn a check off.
""",
    bad=(
        "# file: .github/image-review.yml\n"
        " version: 1\n"
        "-require_digest: false\n"
        "+require_digests: true\n"
    ),
    good=(
        "# file: .github/image-review.yml\n"
        " version: 1\n"
        "-require_digest: false\n"
        "+require_digest: true\n"
    ),
    configure="""\
fix the file.
""",
)
