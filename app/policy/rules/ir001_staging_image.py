"""IR001 staging-image: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.staging``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR001", "staging-image", "error",
    "Staging image added on a production path",
    "A staging (unpromoted) image reference was added outside the paths where staging images are allowed. "
    "Staging registries hold unreviewed builds that may be deleted at any time; production code and manifests "
    "must use the promoted release image.",
    outside_production="off",
    group="pull-request",
)

DOC = RuleDoc(
    severity="""\
error. Not reported outside production (`staging_allowed_paths`); the summary
counts the staging references added there.""",
    table_severity="error",
    table_outside="off",
    text="""\
**What.** A reference to a staging location (`gcr.io/k8s-staging-*`,
`us-central1-docker.pkg.dev/k8s-staging-images/*`, test-image projects, ...) is added on a production
path. When the policy knows where the location is promoted to and the tag is release-shaped
(`v3.0.20230925`, `3.0.20210430`, `v1.2.3`), the suggestion replaces it by the release reference with
the same tag (and digest: promotion copies the digest unchanged). Otherwise the message says the build
must be promoted first and names the release image it would become. The same staging reference
without a suggestion, written on several lines (a `:master` build in seven manifests), is one
finding on its first line that names the other places; a line with a suggestion keeps its own.

With [registry verification](#registry-verification) the suggestion follows the evidence:

* `promoted` (the release tag has the staging digest, or images.yaml lists the staging digest): the
  suggestion names the release reference and says why — "it is the same build (same digest
  `sha256:…`, checked in registry.k8s.io)"; a build promoted under another tag gets that tag;
* `not-promoted` (the release tag does not exist) or `different-build` (it exists with another
  digest): **no suggestion** — switching would break every pull or ship an untested build; the
  comment says what is missing;
* `unknown` (a registry could not be asked): the suggestion stays, marked "unverified" with the
  reason naming the registry.

**Why.** Staging registries hold unreviewed builds that can be deleted at any time (the Artifact
Registry staging project deletes images after 90 days). Production code and manifests must use the
promoted, immutable release image; the tag shape does not matter (`:v5.0.0` in a staging project is
still staging).
""",
    bad=(
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220127\n"
        "+    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83\n"
    ),
    good=(
        "# file: pkg/model/components/etcdmanager/model.go\n"
        "-    - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83\n"
        "+    - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203\n"
        "# file: tests/e2e/templates/etcd-manager.yaml\n"
        "+        image: us-central1-docker.pkg.dev/k8s-staging-images/etcd-manager/etcd-manager-static:v3.0.20240801-3-g1a2b3c4\n"
    ),
    configure="""\
`staging_locations`, `release_locations`, `mappings`, `staging_allowed_paths`;
`rules: {staging-image: {...}}`; a tracked exemption for a deliberate pre-release.
""",
)
