"""IR018 release-tag-missing: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.release_tags``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR018", "release-tag-missing", "error",
    "Release tag does not exist in its registry",
    "A release image reference added by the pull request names a tag (or a digest) that its registry does not "
    "have: a typo, or a version that was never promoted. Every node pulling it fails to start. Checked only when "
    "registry verification is on.",
    outside_production="warning",
)

DOC = RuleDoc(
    severity="""\
error on production paths, warning elsewhere. Only with
[registry verification](#registry-verification).""",
    table_severity="error (registry verification)",
    table_outside="warning",
    text="""\
**What.** A release reference added by the pull request names a tag (or, without a tag, a digest)
that its registry does not have.

**Why.** A typo in a release tag (`v3.0.2022503`) or a version that was never promoted is found
only when a node fails to pull it; on a control-plane manifest that is a cluster that does not come
up. The registry answers the question in one request.
""",
    bad=(
        "# registry: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503 digest sha256:17461d4049f3406b34b7899f779482240db334f17df4f62768c6804ad6c4a9b0\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.2022503\n"
    ),
    good=(
        "# registry: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503 digest sha256:17461d4049f3406b34b7899f779482240db334f17df4f62768c6804ad6c4a9b0\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503\n"
    ),
    configure="""\
`rules: {release-tag-missing: {...}}`; `registry_verification`.
""",
)
