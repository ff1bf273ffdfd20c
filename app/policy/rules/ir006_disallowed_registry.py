"""IR006 disallowed-registry: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.registries``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR006", "disallowed-registry", "error",
    "Image from a disallowed registry",
    "The reference uses a registry or location the policy disallows.",
)

DOC = RuleDoc(
    severity="error, on every path except generated files. No registry is disallowed by default.",
    table_severity="error",
    table_outside="error",
    text="""\
**What.** The reference comes from a location in `disallowed_registries` (prefix globs, each with an
optional reason shown in the message).

**Why.** Organisations block registries for rate limits (Docker Hub), licensing or provenance.
""",
    bad=(
        "# policy: {disallowed_registries: {docker.io: \"rate limited; use mirror.gcr.io\"}}\n"
        "# file: images/builder/Dockerfile\n"
        "+FROM docker.io/library/golang:1.22\n"
    ),
    good=(
        "# policy: {disallowed_registries: {docker.io: \"rate limited; use mirror.gcr.io\"}}\n"
        "# file: images/builder/Dockerfile\n"
        "+FROM mirror.gcr.io/library/golang:1.22\n"
    ),
    configure="""\
`disallowed_registries` (a list, or a mapping location → reason).
""",
)
