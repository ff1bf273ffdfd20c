"""IR014 critical-image-approval: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.change_control``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR014", "critical-image-approval", "error",
    "Critical image changed without an owner's approval",
    "The pull request changes a reference to an image the policy marks as critical. One of its owners must "
    "approve the pull request at its current head commit.",
    exemptable=False,
    action_required=True,
)

DOC = RuleDoc(
    severity="""\
error, marked *action required* (the App sets the check run to
`action_required` and names who must approve). Cannot be exempted. Without review data (the CLI)
it is a notice saying approvals were not checked.""",
    table_severity="error, action required",
    table_outside="—",
    text="""\
**What.** The pull request changes (adds or removes) a reference to an image listed in
`critical_images`, and none of its owners approved the pull request at the current head commit.
Approvals of an older commit do not count.

**Why.** Some images (etcd-manager holds the cluster's data) deserve a second look from the people
who own them.
""",
    bad=(
        "# policy: {critical_images: {\"etcd-manager*\": [\"@kubernetes/etcd-owners\", \"hakman\"]}}\n"
        "# approved-by: someone-else\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220831\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20221209\n"
    ),
    good=(
        "# policy: {critical_images: {\"etcd-manager*\": [\"@kubernetes/etcd-owners\", \"hakman\"]}}\n"
        "# approved-by: hakman\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220831\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20221209\n"
    ),
    configure="""\
`critical_images` (glob → owners: logins or `@org/team`).
""",
)
