"""Composed references (variables, concatenation), prefixes, Dockerfile names, split templates, renames."""

from __future__ import annotations

from pathlib import Path

import pytest
from diff_helpers import added, by_side, make_diff, refs_of

from app.analysis.scan import scan_change
from app.core.filekinds import file_kind
from app.local.inputs import from_diff

MAKEFILE = """REGISTRY ?= gcr.io/k8s-staging-capi-foo
IMAGE_NAME ?= foo-controller
TAG ?= v1.4.0
IMG ?= $(REGISTRY)/$(IMAGE_NAME):$(TAG)
"""


def test_makefile_variables_resolved_from_literal_assignments() -> None:
    refs = added("Makefile", MAKEFILE)
    by_ref = {r.reference: r for r in refs}
    assert set(by_ref) == {"gcr.io/k8s-staging-capi-foo", "gcr.io/k8s-staging-capi-foo/foo-controller:v1.4.0"}
    img = by_ref["gcr.io/k8s-staging-capi-foo/foo-controller:v1.4.0"]
    assert img.line == 4 and not img.partial and not img.templated and img.ref_class == "staging"


def test_registry_prefix_is_partial_and_still_staging() -> None:
    prefix = next(r for r in added("Makefile", MAKEFILE) if r.line == 1)
    assert prefix.partial and prefix.ref_class == "staging" and prefix.tag is None


def test_changed_composed_line_with_variables_in_hunk_context() -> None:
    new = MAKEFILE.replace("IMG ?= $(REGISTRY)/$(IMAGE_NAME):$(TAG)", "IMG ?= $(REGISTRY)/$(IMAGE_NAME)-amd64:$(TAG)")
    assert by_side(refs_of("Makefile", MAKEFILE, new)) == {
        "added": ["gcr.io/k8s-staging-capi-foo/foo-controller-amd64:v1.4.0"],
        "removed": ["gcr.io/k8s-staging-capi-foo/foo-controller:v1.4.0"],
    }


def test_shell_braced_variables() -> None:
    text = 'REPO="registry.k8s.io/ingress-nginx"\nexport CONTROLLER_IMAGE="${REPO}/controller:${TAG}"\n'
    refs = added("hack/build.sh", text)
    img = next(r for r in refs if r.line == 2)
    assert img.reference == "${REPO}/controller:${TAG}"  # as written: where the review points
    assert img.templated and img.tag is None and img.repository == "ingress-nginx/controller"
    assert img.registry == "registry.k8s.io" and img.ref_class == "release"


def test_half_resolved_makefile_reference_keeps_its_text_and_its_staging_class() -> None:
    text = "REGISTRY ?= gcr.io/k8s-staging-metrics-server\nARCH ?= amd64\n\ntest-e2e:\n" \
           "\tIMAGE=$(REGISTRY)/metrics-server-$(ARCH):$(GIT_COMMIT) ./test/e2e.sh\n"
    img = next(r for r in added("Makefile", text) if r.line == 5)
    assert img.reference == "$(REGISTRY)/metrics-server-$(ARCH):$(GIT_COMMIT)" and img.templated
    assert img.name == "gcr.io/k8s-staging-metrics-server/metrics-server-amd64" and img.ref_class == "staging"


def test_unknown_variables_only_is_not_a_reference() -> None:
    assert added("Makefile", "IMG ?= $(REGISTRY)/$(NAME):$(TAG)\n") == []


@pytest.mark.parametrize(
    ("path", "line", "reference", "partial", "templated"),
    [
        ("pkg/etcd.go", '\timage := "registry.k8s.io/etcd:v" + version', "registry.k8s.io/etcd:v", False, True),
        ("pkg/etcd.go", '\timage := "registry.k8s.io/etcd:" + "3.5.12-0"', "registry.k8s.io/etcd:3.5.12-0",
         False, False),
        ("pkg/etcd.go", '\treturn "registry.k8s.io/etcd:" + tag', "registry.k8s.io/etcd:", True, False),
        ("tools/images.py", 'IMAGE = "quay.io/org/agent-" + ARCH + ":v2"', "quay.io/org/agent-", False, True),
        ("tools/images.py", 'image = "quay.io/org/agent:{}".format(version)', "quay.io/org/agent:{}", False, True),
    ],
)
def test_code_concatenation(path: str, line: str, reference: str, partial: bool, templated: bool) -> None:
    refs = added(path, line + "\n")
    assert [(r.reference, r.partial, r.templated) for r in refs] == [(reference, partial, templated)]
    assert refs[0].tag is None or not (partial or templated)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("Makefile", "REGISTRY ?= gcr.io/k8s-staging-foo"),
        ("pkg/config.go", '\tImageRepository: "gcr.io/k8s-staging-foo",'),
        ("values.yaml", "  registry: quay.io/org"),
        ("hack/env.sh", "export IMAGE_REPO=registry.k8s.io/ingress-nginx"),
    ],
)
def test_prefixes_are_partial(path: str, line: str) -> None:
    refs = added(path, line + "\n")
    assert len(refs) == 1 and refs[0].partial and refs[0].tag is None and refs[0].digest is None


@pytest.mark.parametrize(
    ("line", "partial"),
    [
        ("Promote from `gcr.io/k8s-staging-kind` to registry.k8s.io.", True),
        ('images are pushed to "us-central1-docker.pkg.dev/k8s-staging-images/kind"', True),
        ("pull `quay.io/prometheus` first", True),
        ('  "gcr.io/k8s-staging-kind/node"', False),
        ('  "registry.k8s.io/pause"', False),
    ],
)
def test_a_registry_namespace_without_an_image_is_partial(line: str, partial: bool) -> None:
    refs = added("docs/release.md", line + "\n")
    assert len(refs) == 1 and refs[0].partial is partial


def test_repository_key_with_a_tag_is_complete() -> None:
    refs = added("Makefile", "IMAGE_REPO ?= gcr.io/k8s-staging-foo/bar:v1.0.0\n")
    assert [(r.reference, r.partial) for r in refs] == [("gcr.io/k8s-staging-foo/bar:v1.0.0", False)]


# --- Dockerfile names, split template actions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("build/Dockerfile-alpine", "dockerfile"), ("images/controller.Dockerfile", "dockerfile"),
        ("Containerfile", "dockerfile"), ("Containerfile.rhel", "dockerfile"), ("Dockerfile_debug", "dockerfile"),
        ("Dockerfile.cross", "dockerfile"), ("docs/Dockerfile.md", "markdown"),
        ("hack/dockerfile-lint.yaml", "yaml"), ("Dockerfilesomething", "text"),
    ],
)
def test_dockerfile_names(path: str, kind: str) -> None:
    assert file_kind(path) == kind


def test_from_in_suffixed_dockerfile() -> None:
    assert [r.reference for r in added("build/Dockerfile-alpine", "FROM alpine:3.19\n")] == ["alpine:3.19"]


def test_template_action_continuing_on_next_line_is_templated() -> None:
    text = "        image: registry.k8s.io/ingress-nginx/controller:{{ or .Values.tag\n          .Chart.AppVersion }}\n"
    refs = added("templates/deployment.yaml", text)
    assert len(refs) == 1 and refs[0].templated and refs[0].tag is None
    assert refs[0].repository == "ingress-nginx/controller"


# --- renamed files ---------------------------------------------------------------------------------------------


def test_renamed_file_reports_both_sides_on_the_new_path() -> None:
    old = "spec:\n  containers:\n  - name: app\n    image: quay.io/org/app:v1.0.0\n"
    refs = refs_of("deploy/new/app.yaml", old, old.replace("v1.0.0", "v1.1.0"), old_path="deploy/old/app.yaml")
    assert {(r.side, r.path, r.reference) for r in refs} == {
        ("added", "deploy/new/app.yaml", "quay.io/org/app:v1.1.0"),
        ("removed", "deploy/new/app.yaml", "quay.io/org/app:v1.0.0"),
    }


def test_renamed_file_reader_reads_the_old_path_for_removals() -> None:
    def reader(path: str, side: str) -> str:
        seen.append((path, side))
        return values[side]

    seen: list[tuple[str, str]] = []
    values = {side: "image:\n  repository: quay.io/org/app\n" + "".join(f"  o{i}: x\n" for i in range(6))
              + f"  tag: {tag}\n" for side, tag in (("removed", "v1"), ("added", "v2"))}
    refs = refs_of("new/values.yaml", values["removed"], values["added"], reader=reader, old_path="old/values.yaml")
    assert {(r.side, r.path, r.reference) for r in refs} == {
        ("added", "new/values.yaml", "quay.io/org/app:v2"), ("removed", "new/values.yaml", "quay.io/org/app:v1"),
    }
    assert set(seen) == {("new/values.yaml", "added"), ("old/values.yaml", "removed")}


def test_img_variable_passes_the_cli_prefilter(tmp_path: Path) -> None:
    diff = tmp_path / "change.diff"
    diff.write_bytes(make_diff("Makefile", "IMG ?= controller:v1.0.0\n", "IMG ?= controller:v1.1.0\n"))
    refs = scan_change(from_diff(str(diff)))
    assert by_side(refs) == {"added": ["controller:v1.1.0"], "removed": ["controller:v1.0.0"]}


def test_shell_default_expansion_reports_the_default_reference() -> None:
    script = (
        'E2E_IMAGE=${E2E_IMAGE:-registry.k8s.io/ingress-nginx/e2e-test-runner:v2.2.7}\n'
        'export NODE_IMAGE="${NODE_IMAGE:-kindest/node:v1.36.1}"\n'
        'BUSYBOX_IMAGE=${BUSYBOX_IMAGE:=quay.io/prometheus/busybox:1.36}\n'
    )
    refs = added("hack/run-e2e.sh", script)
    assert [(r.line, r.normalized(), r.templated) for r in refs] == [
        (1, "registry.k8s.io/ingress-nginx/e2e-test-runner:v2.2.7", False),
        (2, "docker.io/kindest/node:v1.36.1", False),
        (3, "quay.io/prometheus/busybox:1.36", False),
    ]


def test_variable_passed_on_is_reported_where_it_is_set() -> None:
    text = (
        "WAS_NODE_IMAGE ?= kindest/node:v1.36.1\n"
        "\n"
        "test-e2e:\n"
        "\tKIND=$(KIND) WAS_NODE_IMAGE=$(WAS_NODE_IMAGE) ./hack/e2e-test.sh\n"
    )
    refs = added("Makefile", text)
    assert [(r.line, r.normalized()) for r in refs] == [(1, "docker.io/kindest/node:v1.36.1")]
    script = 'k8s_registry="registry.k8s.io/jobset"\nIMAGE_REGISTRY=${k8s_registry}\n'
    assert [(r.line, r.reference) for r in added("hack/package.sh", script)] == [(1, "registry.k8s.io/jobset")]
