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
    "What such a reference pulls changes without any change to the repository.",
    outside_production="warning",
)

DOC = RuleDoc(
    severity="error on production paths, warning elsewhere; not reported in `/docs` and `*.md`.",
    table_severity="error",
    table_outside="warning (docs ignored)",
    text="""\
**What.** A reference that is pulled as written has a floating tag (`mutable_tags`: `latest`,
`main`, `master`, `dev`, `nightly`, `latest-*`, ...) or no tag and no digest. Not pulled, so not
reported: a repository named to list its tags (`name.NewRepository(...)`, `crane ls`), a push or
registry prefix (`REGISTRY=`, `KO_DOCKER_REPO=`, `PROD_REGISTRY`, `ImageRepository:`, `docker push`),
and a bare repository in code or a variable whose tag is joined on elsewhere (only an `image:`
field, `FROM`, `--image=` or a `docker run`/`pull` line pulls an untagged reference as `latest`).

**Why.** What a floating reference pulls changes without any change to the repository: builds and
clusters stop being reproducible, and a rollback does not roll back. Tests and CI still get a
warning because a floating tag makes their results change between runs; it is not an error there
because testing the newest development build is sometimes the point (an e2e job running
`etcd-manager-static:latest`).
""",
    bad=(
        "# file: pkg/model/components/awscloudcontrollermanager.go\n"
        "+\t\timage = \"registry.k8s.io/provider-aws/cloud-controller-manager:latest\"\n"
    ),
    good=(
        "# file: pkg/model/components/awscloudcontrollermanager.go\n"
        "+\t\timage = \"registry.k8s.io/provider-aws/cloud-controller-manager:v1.24.1\"\n"
    ),
    configure="""\
`mutable_tags`; `rules: {mutable-tag: {outside_production: notice, ignore_paths: [...]}}`.
""",
)
