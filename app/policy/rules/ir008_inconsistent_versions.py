"""IR008 inconsistent-versions: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.consistency``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR008", "inconsistent-versions", "warning",
    "The same image added at several versions",
    "The pull request adds the same image at more than one version. Usually one place was missed.",
    outside_production="off",
)

DOC = RuleDoc(
    severity="""\
warning on production paths (references on other paths are compared among
themselves and not reported).""",
    table_severity="warning",
    table_outside="off",
    text="""\
**What.** The pull request adds the same image at more than one version within one deployable file
(a manifest, values file, kustomization, compose file or Dockerfile), and at least one of those
versions is the pull request's choice (not a tag it kept while renaming the registry). Images are
compared by identity: deprecated registries and staging locations resolve to their release names,
so a staging build and its release count as one image. The message names the image as the diff
writes it.

**Why.** A version bump that reaches one container of a manifest and not its sibling is usually a
miss. One file per version (`addons/dashboard/v1.7.0.yaml`, `v1.8.0.yaml`) and per-version branches
in code (a `switch` on the Kubernetes minor version) are intended spreads and are not reported.
""",
    bad=(
        "# file: upup/models/cloudup/resources/addons/etcd-manager.addons.k8s.io/k8s-1.25.yaml\n"
        "+      - image: registry.k8s.io/etcd-manager/etcd-manager-slim:v3.0.20241012\n"
        "+        name: etcd-manager\n"
        "+      - image: registry.k8s.io/etcd-manager/etcd-manager-slim:v3.0.20240617\n"
        "+        name: etcd-backup\n"
    ),
    good=(
        "# file: upup/models/cloudup/resources/addons/etcd-manager.addons.k8s.io/k8s-1.25.yaml\n"
        "+      - image: registry.k8s.io/etcd-manager/etcd-manager-slim:v3.0.20241012\n"
        "+        name: etcd-manager\n"
        "+      - image: registry.k8s.io/etcd-manager/etcd-manager-slim:v3.0.20241012\n"
        "+        name: etcd-backup\n"
    ),
    configure="""\
`rules: {inconsistent-versions: {...}}`.
""",
)
