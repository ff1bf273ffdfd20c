"""IR011 image-switch-order: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.change_pattern``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR011", "image-switch-order", "notice",
    "Image switch comes after configuration commits",
    "The commit that switches the image comes after commits that change configuration. The two-step pattern "
    "puts the image switch first and the follow-up changes after it.",
)

DOC = RuleDoc(
    severity="notice.",
    table_severity="notice",
    table_outside="—",
    text="""\
**What.** The first commit that switches an image comes after configuration commits of the same
component: commits that change hand-written files in a directory the switch commit changes, or in
a parent or child of one. Regenerated-output commits and commits about other parts of the tree are
never asked to move. Which switches count follows `two_step` (by default a switch from or to a
staging image; `all`: every production switch).

**Why.** In the two-step pattern the image switch comes first and the adjustments follow; the
reverse order leaves intermediate commits that configure an image not yet in use.
""",
    bad=(
        "# commit: Update etcd to v3.5.6\n"
        "# file: pkg/model/components/etcd.go\n"
        "-\tDefaultEtcd3Version_1_22 = \"3.5.4\"\n"
        "+\tDefaultEtcd3Version_1_22 = \"3.5.6\"\n"
        "# commit: Use the released etcd-manager\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20221209\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20221209\n"
    ),
    good=(
        "# commit: Use the released etcd-manager\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20221209\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20221209\n"
        "# commit: Update etcd to v3.5.6\n"
        "# file: pkg/model/components/etcd.go\n"
        "-\tDefaultEtcd3Version_1_22 = \"3.5.4\"\n"
        "+\tDefaultEtcd3Version_1_22 = \"3.5.6\"\n"
    ),
    configure="""\
`two_step` (`staging`, `all` or `off`: which image switches are judged);
`rules: {image-switch-order: {...}}`.
""",
)
