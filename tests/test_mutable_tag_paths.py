"""IR002 mutable-tag judges what ships: production paths only, the same notion of production
(outside ``staging_allowed_paths``) the staging and two-step rules use.  Real diffs, real extractor."""

from __future__ import annotations

from diff_helpers import make_diff

from app.analysis.analyze import ChangeSet, analyze
from app.core.diffs import parse_diff

# Tooling images from real projects' test, e2e, script and CI files: none of them is released.
E2E_CONFIG = ("test/e2e/config/docker.yaml",
              "images:\n  - name: gcr.io/k8s-staging-cluster-api/capa-manager:v2.5.0\n    loadBehavior: tryLoad\n",
              "images:\n  - name: gcr.io/k8s-staging-cluster-api/capa-manager:dev\n    loadBehavior: tryLoad\n")
HACK_SCRIPT = ("hack/e2e-kind.sh",
               "#!/usr/bin/env bash\nset -o errexit\n",
               '#!/usr/bin/env bash\nset -o errexit\nIMAGE="gcr.io/k8s-staging-ingress-nginx/controller:main"\n'
               'docker pull "${IMAGE}"\nkind load docker-image "${IMAGE}"\n')
GO_TEST = ("pkg/controller/reconcile_test.go",
           "package controller\n\nfunc TestReconcile(t *testing.T) {\n}\n",
           'package controller\n\nfunc TestReconcile(t *testing.T) {\n\tpod := newPod("busybox")\n'
           '\tpod.Spec.Containers[0].Image = "busybox"\n\tregistryImage := "localhost:5000/baz"\n}\n')
E2E_DEPLOYMENT = ("e2e/deployment.yaml",
                  "spec:\n  containers:\n  - name: whoami\n    image: traefik/whoami:v1.10.1\n",
                  "spec:\n  containers:\n  - name: whoami\n    image: traefik/whoami:latest\n")
# What ships: a release Dockerfile and a chart's default values.
DOCKERFILE = ("images/builder/Dockerfile",
              "FROM golang:1.22.5 AS build\nWORKDIR /src\n",
              "FROM golang:latest AS build\nWORKDIR /src\n")
CHART_VALUES = ("charts/external-dns/values.yaml",
                "image:\n  repository: registry.k8s.io/external-dns/external-dns\n  tag: v0.14.2\n",
                "image:\n  repository: registry.k8s.io/external-dns/external-dns\n  tag: latest\n")


def mutable(*files: tuple[str, str, str], policy: str | None = None) -> list[tuple[str, str]]:
    diff = b"".join(make_diff(path, old, new) for path, old, new in files)
    analysis = analyze(ChangeSet(files=parse_diff(diff), policy_text=policy))
    return sorted((f.path, f.severity) for f in analysis.findings if f.rule == "IR002")


def test_tooling_images_in_tests_scripts_and_e2e_are_not_reported() -> None:
    assert mutable(E2E_CONFIG, HACK_SCRIPT, GO_TEST, E2E_DEPLOYMENT) == []


def test_floating_tags_that_ship_still_fire() -> None:
    assert mutable(DOCKERFILE, CHART_VALUES, E2E_DEPLOYMENT) == [
        ("charts/external-dns/values.yaml", "error"), ("images/builder/Dockerfile", "error"),
    ]


def test_a_repository_can_opt_tooling_paths_back_in() -> None:
    policy = "rules:\n  mutable-tag:\n    outside_production: warning\n"
    found = mutable(E2E_CONFIG, E2E_DEPLOYMENT, DOCKERFILE, policy=policy)
    assert found == [
        ("e2e/deployment.yaml", "warning"), ("images/builder/Dockerfile", "error"),
        ("test/e2e/config/docker.yaml", "warning"),
    ]


def test_ignore_paths_still_drops_production_findings() -> None:
    policy = "rules:\n  mutable-tag:\n    ignore_paths: [\"/charts\"]\n"
    assert mutable(DOCKERFILE, CHART_VALUES, policy=policy) == [("images/builder/Dockerfile", "error")]


def test_a_path_added_to_staging_allowed_paths_leaves_ir002_too() -> None:
    # One notion of production: the path list that allows staging images also ends IR002 there.
    policy = "staging_allowed_paths: {add: [\"/images/builder\"]}\n"
    assert mutable(DOCKERFILE, CHART_VALUES, policy=policy) == [("charts/external-dns/values.yaml", "error")]


def test_documentation_sites_are_docs_for_every_reference_rule() -> None:
    """Hugo's site/ and Docusaurus' website/ hold examples readers copy, as docs/ does."""
    example = ("site/static/examples/ingress/deploy.yaml",
               "spec:\n  containers:\n  - name: c\n    image: registry.k8s.io/ingress-nginx/controller:v1.11.3\n",
               "spec:\n  containers:\n  - name: c\n    image: gcr.io/k8s-staging-ingress-nginx/controller:latest\n")
    tutorial = ("website/docs/tutorial/app.yaml", "image: nginx:1.27.0\n", "image: nginx:latest\n")
    diff = b"".join(make_diff(path, old, new) for path, old, new in (example, tutorial))
    analysis = analyze(ChangeSet(files=parse_diff(diff), policy_text=None))
    assert [f.rule for f in analysis.findings if f.severity in ("error", "warning")] == []
    # Only the root directories: a directory named site further down ships.
    shipped = [("deploy/site/deploy.yaml", example[1], example[2]), ("deploy/site/app.yaml", *tutorial[1:])]
    diff = b"".join(make_diff(path, old, new) for path, old, new in shipped)
    analysis = analyze(ChangeSet(files=parse_diff(diff), policy_text=None))
    assert sorted(f.rule for f in analysis.findings if f.severity == "error") == ["IR001", "IR002"]
