"""IR007 digest-required: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.registries``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR007", "digest-required", "error",
    "Image not pinned by digest",
    "The policy sets require_digest: true and this reference has no @sha256 digest.",
    outside_production="off",
)

DOC = RuleDoc(
    severity="""\
error on production paths, only when the policy sets `require_digest: true`
(off by default).""",
    table_severity="error (only with `require_digest: true`)",
    table_outside="off",
    text="""\
**What.** The reference has no `@sha256:` digest.

**Why.** A tag can be moved; a digest names exactly the bytes that were tested.
""",
    bad=(
        "# policy: {require_digest: true}\n"
        "# file: deploy/manifest.yaml\n"
        "+        image: registry.k8s.io/pause:3.9\n"
    ),
    good=(
        "# policy: {require_digest: true}\n"
        "# file: deploy/manifest.yaml\n"
        "+        image: registry.k8s.io/pause:3.9@sha256:7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097\n"
    ),
    configure="""\
`require_digest: true`; `rules: {digest-required: {outside_production: warning}}`.
""",
)
