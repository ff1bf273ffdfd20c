"""IR019 release-digest-mismatch: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.release_tags``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR019", "release-digest-mismatch", "error",
    "Release tag and pinned digest disagree",
    "A release image reference writes both a tag and a digest, and the registry says the tag is another digest. "
    "Runtimes pull the digest, so the tag misleads every reader of the line. Checked only when registry "
    "verification is on.",
    outside_production="warning",
)

DOC = RuleDoc(
    severity="""\
error on production paths, warning elsewhere. Only with
[registry verification](#registry-verification).""",
    table_severity="error (registry verification)",
    table_outside="warning",
    text="""\
**What.** A release reference writes both a tag and a digest (`name:tag@sha256:…`), and the
registry says the tag is another digest.

**Why.** Runtimes pull the digest and ignore the tag, so the tag tells every reader of the line a
version that is not what runs; usually one of the two was updated and the other forgotten.
""",
    bad=(
        "# registry: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503 digest sha256:17461d4049f3406b34b7899f779482240db334f17df4f62768c6804ad6c4a9b0\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503@sha256:88c5ffa7f497bdabce8ac33c33deac1fd4599f437d553f373ce34712eef48281\n"
    ),
    good=(
        "# registry: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503 digest sha256:17461d4049f3406b34b7899f779482240db334f17df4f62768c6804ad6c4a9b0\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220503@sha256:17461d4049f3406b34b7899f779482240db334f17df4f62768c6804ad6c4a9b0\n"
    ),
    configure="""\
`rules: {release-digest-mismatch: {...}}`; `registry_verification`.
""",
)
