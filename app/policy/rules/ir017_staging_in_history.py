"""IR017 staging-in-history: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.history``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR017", "staging-in-history", "notice",
    "A commit adds a staging image that a later commit removes",
    "One commit of the pull request adds a staging image on a production path and a later commit removes it "
    "again. The pull request as a whole ships no staging image, but a cherry-pick or revert of that commit "
    "alone would.",
)

DOC = RuleDoc(
    severity="notice. Needs commits (`--patches`, `--git`, or the App).",
    table_severity="notice",
    table_outside="off",
    text="""\
**What.** One commit of the pull request adds a staging image on a production path, and a later
commit of the same pull request removes it again, so the net diff is clean. When the pull request
still ships a staging build of the same image (one staging build replaced by the next), that is
[IR001](#ir001-staging-image)'s error and this rule stays silent.

**Why.** Release branches take commits one by one. kops #14756 was a combined cherry-pick whose
second commit put a staging etcd-manager build into `model.go` and whose third commit replaced it with
the release; the pull request was fine as a whole, but a later cherry-pick or revert of the second
commit alone would have shipped the staging image. Only commit-level analysis sees it.
""",
    bad=(
        "# commit: Use etcd-manager pre-release\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220831\n"
        "+    image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20221201-3-g1a2b3c4\n"
        "# commit: Update to etcd-manager v3.0.20221209\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20221201-3-g1a2b3c4\n"
        "+    image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20221209\n"
    ),
    good=(
        "# commit: Update to etcd-manager v3.0.20221209\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220831\n"
        "+    image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20221209\n"
    ),
    configure="""\
`rules: {staging-in-history: {severity: warning}}` on release branches that are
cherry-picked from; `staging_allowed_paths` (staging images there are never reported).
""",
)
