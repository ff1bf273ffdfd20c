"""IR003 development-build: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.tags``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR003", "development-build", "error",
    "Development build tag on a production path",
    "An image tag names a development build (git describe -N-g<sha>, -dirty, a bare commit sha, sha-<hex>, "
    "pr-<n>, -dev/-snapshot/-nightly/-ci). Release paths must use released versions. A dated build id such as "
    "v20211008-60e346af counts only on a staging image: Kubernetes builds keep that tag when promoted.",
    outside_production="off",
)

DOC = RuleDoc(
    severity="error on production paths; not reported elsewhere.",
    table_severity="error",
    table_outside="off",
    text="""\
**What.** The tag names a development build (`dev_tag_patterns`): git describe
(`v3.0.20220128-22-g9ef09c83`, `-dirty`), a bare commit sha (`f1ea649`), `sha-<hex>`, `pr-<n>`,
`-dev`/`-snapshot`/`-nightly`/`-ci`, semver build metadata. A dated build id
(`v20211008-60e346af`, kind `build-id`) is reported only on a staging image, where IR001 names it
when that rule is on: Kubernetes image builds carry that tag in staging and keep it when they are
promoted (`registry.k8s.io/ingress-nginx/kube-webhook-certgen:v20231011-8b53cabe0`), and projects
such as kind release their own images under it (`docker.io/kindest/kindnetd:v20241212-9f82dd49`).
Outside a staging registry it is how the project released the image.

**Why.** Development builds are not releases: nobody promised they work, and the same code will be
released under another tag. Tests and CI use them on purpose, so the rule is off there.
""",
    bad=(
        "# file: upup/models/cloudup/resources/addons/dns-controller.addons.k8s.io/k8s-1.12.yaml.template\n"
        "+        image: registry.k8s.io/kops/dns-controller:v1.24.0-27-g1477d6e\n"
        "# file: pkg/build/nodeimage/const_cni.go\n"
        "+const kindnetdImage = \"docker.io/kindest/kindnetd:sha-9f82dd49\"\n"
    ),
    good=(
        "# file: upup/models/cloudup/resources/addons/dns-controller.addons.k8s.io/k8s-1.12.yaml.template\n"
        "+        image: registry.k8s.io/kops/dns-controller:v1.24.1\n"
        "# file: pkg/build/nodeimage/const_cni.go\n"
        "+const kindnetdImage = \"docker.io/kindest/kindnetd:v20241212-9f82dd49\"\n"
        "# file: charts/ingress-nginx/values.yaml\n"
        "+      image: registry.k8s.io/ingress-nginx/kube-webhook-certgen:v20231011-8b53cabe0\n"
    ),
    configure="""\
`dev_tag_patterns` (kind → regular expressions); `rules: {development-build: {...}}`.
""",
)
