"""IR015 policy-weakened: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.policy_change``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR015", "policy-weakened", "notice",
    "Pull request weakens the image policy",
    "The pull request changes .github/image-review.yml in a way that relaxes the checks (removes a staging "
    "location, disables a rule, lowers a severity, adds an exemption or an allowed path, ...).",
    exemptable=False,
)

DOC = RuleDoc(
    severity="""\
notice, addressed to `policy_owners` (or, when none are set, the critical
images' owners). Cannot be exempted.""",
    table_severity="notice",
    table_outside="—",
    text="""\
**What.** The pull request changes `.github/image-review.yml` in a way that relaxes the checks:
removes a staging location, a mutable tag, a deprecated or disallowed registry or a dev-tag pattern;
disables a rule, lowers a severity or its outside-production severity, ignores more paths; adds
allowed or generated paths or an exemption; turns off `require_digest` or registry verification;
changes critical-image owners. The summary always shows the effective-policy difference.

**Why.** The policy is read from the base branch, so the change only takes effect after merge; the
people responsible for it should see it first.
""",
    bad=(
        "# file: .github/image-review.yml\n"
        " version: 1\n"
        " rules:\n"
        "-  staging-image: {severity: error}\n"
        "+  staging-image: {severity: notice}\n"
    ),
    good=(
        "# file: .github/image-review.yml\n"
        " version: 1\n"
        " rules:\n"
        "-  prerelease-tag: {severity: warning}\n"
        "+  prerelease-tag: {severity: error}\n"
    ),
    configure="""\
`policy_owners`.
""",
)
