"""IR020 registry-unverified: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.release_tags``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR020", "registry-unverified", "notice",
    "Registry could not be asked",
    "Registry verification was on, but the registry of a release reference could not answer (unreachable, "
    "timed out, refused access, rate limited). The reference was not judged by IR018/IR019; the notice names "
    "the registry and the reason. It never fails a check.",
    exemptable=False,
    severity_fixed=True,
)

DOC = RuleDoc(
    severity="""\
notice, and it stays one: the policy can disable it but not raise it. Only
with [registry verification](#registry-verification).""",
    table_severity="notice (fixed)",
    table_outside="notice",
    text="""\
**What.** The registry of a release reference could not be asked (unreachable, timed out, access
refused, rate limited), so IR018 and IR019 could not judge it. The notice names the registry and
the reason.

**Why.** A registry outage must not block a merge, but the reviewer should know the reference was
not verified. For a private registry, give the App credentials
(`IMAGE_REVIEW_REGISTRY_AUTH_<HOST>`).
""",
    bad=(
        "# registry: registry.k8s.io unreachable\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503\n"
    ),
    good=(
        "# registry: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503 digest sha256:17461d4049f3406b34b7899f779482240db334f17df4f62768c6804ad6c4a9b0\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503\n"
    ),
    configure="""\
`rules: {registry-unverified: false}` hides the notices (the summary still names the
registry); credentials for private registries.
""",
)
