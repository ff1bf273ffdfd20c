"""IR002 mutable-tag: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.tags``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR002", "mutable-tag", "error",
    "Image without an explicit, immutable tag",
    "An image reference uses a floating tag (latest, main, master, dev, nightly, ...) or no tag and no digest. "
    "What such a reference pulls changes without any change to the repository. "
    "Reported on production paths only: tooling images in tests, CI, docs and scripts are not released.",
    outside_production="off",
)

DOC = RuleDoc(
    severity="error on production paths; not reported elsewhere (tests, e2e, CI, docs, scripts).",
    table_severity="error",
    table_outside="off",
    text="""\
**What.** A reference that is pulled as written has a floating tag (`mutable_tags`: `latest`,
`main`, `master`, `dev`, `nightly`, `latest-*`, ...) or no tag and no digest. Not pulled, so not
reported: a repository named to list its tags (`name.NewRepository(...)`, `crane ls`), a push or
registry prefix (`REGISTRY=`, `KO_DOCKER_REPO=`, `PROD_REGISTRY`, `ImageRepository:`, `docker push`),
and a bare repository in code or a variable whose tag is joined on elsewhere (only an `image:`
field, `FROM`, `--image=` or a `docker run`/`pull` line pulls an untagged reference as `latest`).

Only production paths are judged (every path outside `staging_allowed_paths`, the notion of
production the other rules use): a Dockerfile's `FROM golang:latest` or a chart's `tag: latest` is
reported; `:dev` images in `test/e2e/config/*.yaml`, `:main` in `hack/e2e-*.sh`, `busybox` in a
`*_test.go` file or `traefik/whoami:latest` in `e2e/deployment.yaml` are not. Those images run
tests and tooling and are never released, and testing the newest development build is often the
point (an e2e job running `etcd-manager-static:latest`).

**Why.** What a floating reference pulls changes without any change to the repository: builds and
clusters stop being reproducible, and a rollback does not roll back.
""",
    bad=(
        "# file: pkg/model/components/awscloudcontrollermanager.go\n"
        "+\t\timage = \"registry.k8s.io/provider-aws/cloud-controller-manager:latest\"\n"
    ),
    good=(
        "# file: pkg/model/components/awscloudcontrollermanager.go\n"
        "+\t\timage = \"registry.k8s.io/provider-aws/cloud-controller-manager:v1.24.1\"\n"
        "# file: e2e/deployment.yaml\n"
        "+        image: traefik/whoami:latest\n"
    ),
    configure="""\
`mutable_tags`; `rules: {mutable-tag: {outside_production: warning, ignore_paths: [...]}}` (to
report tooling images too, or to leave more production paths out).
""",
)
