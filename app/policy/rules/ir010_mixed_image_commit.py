"""IR010 mixed-image-commit: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.change_pattern``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR010", "mixed-image-commit", "notice",
    "Commit mixes an image switch with other changes",
    "A commit switches an image (by default one from or to staging) and also changes other (non-generated) lines. "
    "The two-step pattern keeps the image switch in a commit of its own, so it can be reviewed, cherry-picked and "
    "reverted alone. Warning for critical images.",
)

DOC = RuleDoc(
    severity="notice; warning when the commit switches a critical image.",
    table_severity="notice (warning for critical images)",
    table_outside="—",
    text="""\
**What.** A commit switches an image (changes a reference in a hand-written file) and also changes
other lines that are not part of the image change (see [the two-step change
pattern](#the-two-step-change-pattern)). The message counts those lines and names the files with the
most of them. A plain diff without commits is judged as one commit. By default (`two_step: staging`)
only a switch from or to a staging image counts: an ordinary release bump that comes with its
related changes (a chart release, a builder image with its lint configuration) is not reported.
A `git revert` commit (subject `Revert "..."`) is not reported either: it undoes another commit as a
whole and cannot be split.

**Why.** The two-step pattern keeps the staging ↔ release switch in a commit of its own (commit 1:
only the image line; commit 2: config changes and regenerated files), so it can be reviewed,
cherry-picked and reverted alone — the way kops moved etcd-manager from staging back to release in
#13196. Repositories that keep every image bump apart, as kops does, set `two_step: all`.
""",
    bad=(
        "# commit: Use the released etcd-manager and update etcd\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220203\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203\n"
        "# file: pkg/model/components/etcd.go\n"
        "-\tDefaultEtcd3Version_1_22 = \"3.5.3\"\n"
        "+\tDefaultEtcd3Version_1_22 = \"3.5.4\"\n"
    ),
    good=(
        "# commit: Use the released etcd-manager v3.0.20220203\n"
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220203\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203\n"
        "# commit: Run hack/update-expected.sh\n"
        "# file: tests/integration/update_cluster/minimal/data/aws_s3_object_manifests-etcdmanager-main_content\n"
        "-    image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220203\n"
        "+    image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203\n"
        "# commit: Update etcd to v3.5.4\n"
        "# file: pkg/model/components/etcd.go\n"
        "-\tDefaultEtcd3Version_1_22 = \"3.5.3\"\n"
        "+\tDefaultEtcd3Version_1_22 = \"3.5.4\"\n"
    ),
    configure="""\
`two_step` (`staging`, `all` or `off`: which image switches are judged);
`generated_paths` (changes there never make a commit mixed); `critical_images`
(raises the severity); `rules: {mixed-image-commit: {...}}`.
""",
)
