"""IR005 deprecated-registry: the rule's metadata and its section of docs/rules.md, examples included.

Found by ``app.policy.rules.registries``. ``app.policy.catalog`` collects ``META``;
``python -m app.policy.rules_doc`` renders ``DOC`` into docs/rules.md.
"""

from __future__ import annotations

from app.policy.rulemeta import RuleDoc, RuleMeta

META = RuleMeta(
    "IR005", "deprecated-registry", "warning",
    "Image from a deprecated registry",
    "The reference uses a registry the policy lists as deprecated (k8s.gcr.io is frozen since 2023-04-03; "
    "gcr.io/google_containers was its pre-2018 name). The suggestion moves it to the replacement registry. "
    "One finding per pull request and deprecated registry, counting the references and files.",
    group="pull-request",
)

DOC = RuleDoc(
    severity="warning, on every path except generated files.",
    table_severity="warning",
    table_outside="warning",
    text="""\
**What.** The reference uses a deprecated registry (`deprecated_registries`); the suggestion moves
it to the replacement (`k8s.gcr.io/pause:3.9` → `registry.k8s.io/pause:3.9`). One finding per pull
request and deprecated registry: a migration that adds 81 references to `k8s.gcr.io` in 30 files gets
one warning that counts them, anchored on the first with its suggestion; the other places are listed
in SARIF `relatedLocations` and in the JSON `also` list.

**Why.** `k8s.gcr.io` redirects to `registry.k8s.io` since 2023-03-20 and is frozen since 2023-04-03:
no image promoted after that exists there.
""",
    bad=(
        "# file: addons/metrics-server/v0.6.yaml\n"
        "+        image: k8s.gcr.io/metrics-server/metrics-server:v0.6.1\n"
        "# file: addons/dns/coredns.yaml\n"
        "+        image: k8s.gcr.io/coredns/coredns:v1.8.6\n"
        "+        image: k8s.gcr.io/cpa/cluster-proportional-autoscaler:1.8.5\n"
    ),
    good=(
        "# file: addons/metrics-server/v0.6.yaml\n"
        "+        image: registry.k8s.io/metrics-server/metrics-server:v0.6.1\n"
        "# file: addons/dns/coredns.yaml\n"
        "+        image: registry.k8s.io/coredns/coredns:v1.8.6\n"
        "+        image: registry.k8s.io/cpa/cluster-proportional-autoscaler:1.8.5\n"
    ),
    configure="""\
`deprecated_registries` (old prefix → new prefix; `null` removes a default).
""",
)
