"""IR009 version-downgrade: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.consistency``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR009", "version-downgrade", "warning",
    "Image version goes backwards",
    "A reference is replaced by an older version of the same image (a staging build is compared with the "
    "release it maps to).",
)

DOC = RuleDoc(
    severity="warning, on every path except generated files.",
    table_severity="warning",
    table_outside="warning",
    text="""\
**What.** A removed reference is replaced (in the same file, nearest line) by an older version of
the same image. Versions compare semver- and date-aware: `v3.0.20220128-22-g9ef09c83` (22 commits
after v3.0.20220128) is older than `v3.0.20220203`; flavours (`-bookworm` vs `-alpine`), date
versions vs semantic versions, and unversioned tags never compare. A tag that names fewer numbers
and agrees on them (`golang:1.25-trixie` after `golang:1.25.1-trixie`) follows that release line,
so it is less pinned, not older.

**Why.** Going back is sometimes right (a revert), but more often a merge mistake or a stale
staging build replacing a newer release.
""",
    bad=(
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220128\n"
    ),
    good=(
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220128\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203\n"
    ),
    configure="""\
`rules: {version-downgrade: {...}}`.
""",
)
