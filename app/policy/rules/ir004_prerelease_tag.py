"""IR004 prerelease-tag: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.tags``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR004", "prerelease-tag", "warning",
    "Pre-release version on a production path",
    "An image tag is a pre-release (-alpha, -beta, -rc). Pre-releases are immutable but not meant for "
    "production; make sure this is intended. One finding per file, counting the references.",
    outside_production="off",
    group="file",
)

DOC = RuleDoc(
    severity="warning on production paths; not reported elsewhere.",
    table_severity="warning",
    table_outside="off",
    text="""\
**What.** The tag is a pre-release (`-alpha.N`, `-beta.N`, `-rc.N`). One finding per file: a file
that lists five Kubernetes-version-keyed images with alpha tags gets one warning, on the first of
them, naming the lines of the others.

**Why.** Pre-releases are immutable and are promoted to release registries, but they are not meant
for production; the warning asks to confirm it is intended (or to move to the final release). A
commit subject of the pull request that names the pre-release ("Bump webhook to v0.7.0-rc1") is
that confirmation, so no warning is given.
""",
    bad=(
        "# file: pkg/model/components/kubeapiserver/model.go\n"
        "+\tcase \"1.31\":\n"
        "+\t\timage = \"registry.k8s.io/kube-apiserver:v1.31.0-rc.1\"\n"
        "+\tcase \"1.32\":\n"
        "+\t\timage = \"registry.k8s.io/kube-apiserver:v1.32.0-alpha.3\"\n"
    ),
    good=(
        "# file: pkg/model/components/kubeapiserver/model.go\n"
        "+\tcase \"1.31\":\n"
        "+\t\timage = \"registry.k8s.io/kube-apiserver:v1.31.0\"\n"
        "+\tcase \"1.32\":\n"
        "+\t\timage = \"registry.k8s.io/kube-apiserver:v1.32.0\"\n"
    ),
    configure="""\
`rules: {prerelease-tag: {enabled: false}}` for projects that ship pre-releases on purpose.
""",
)
