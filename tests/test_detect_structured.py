"""Structured YAML images: one reference assembled from a mapping's sibling keys (Helm, kustomize)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from diff_helpers import added, by_side, make_diff, refs_of
from gitrepo import commit, init_repo

from app.analysis.scan import scan_change, scan_diff
from app.core.diffs import parse_diff
from app.core.extract import extract
from app.core.models import Side
from app.local.inputs import from_git

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64

INGRESS_STYLE = f"""controller:
  name: controller
  image:
    chroot: false
    registry: registry.k8s.io
    image: ingress-nginx/controller
    tag: "v1.9.4"
    digest: {DIGEST_A}
    pullPolicy: IfNotPresent
  replicaCount: 1
"""


def test_registry_image_tag_digest_style() -> None:
    new = INGRESS_STYLE.replace("v1.9.4", "v1.9.5").replace(DIGEST_A, DIGEST_B)
    sides = by_side(refs_of("charts/ingress-nginx/values.yaml", INGRESS_STYLE, new))
    assert sides["added"] == [f"registry.k8s.io/ingress-nginx/controller:v1.9.5@{DIGEST_B}"]
    assert sides["removed"] == [f"registry.k8s.io/ingress-nginx/controller:v1.9.4@{DIGEST_A}"]


def test_digest_alone_changing_is_assembled_with_context_keys() -> None:
    new = INGRESS_STYLE.replace(DIGEST_A, DIGEST_B)
    refs = refs_of("values.yaml", INGRESS_STYLE, new)
    added_ref = next(r for r in refs if r.side == "added")
    assert added_ref.reference == f"registry.k8s.io/ingress-nginx/controller:v1.9.4@{DIGEST_B}"
    assert added_ref.digest == DIGEST_B and added_ref.line == 8 and not added_ref.partial


def test_empty_tag_with_digest() -> None:
    old = INGRESS_STYLE.replace('"v1.9.4"', '""')
    refs = refs_of("values.yaml", old, old.replace(DIGEST_A, DIGEST_B))
    assert by_side(refs)["added"] == [f"registry.k8s.io/ingress-nginx/controller@{DIGEST_B}"]


def test_image_key_change_with_registry_sibling_is_not_a_docker_hub_name() -> None:
    new = INGRESS_STYLE.replace("ingress-nginx/controller", "ingress-nginx/controller-chroot")
    sides = by_side(refs_of("values.yaml", INGRESS_STYLE, new))
    assert sides["added"] == [f"registry.k8s.io/ingress-nginx/controller-chroot:v1.9.4@{DIGEST_A}"]


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("image:\n  registry: quay.io\n  repository: prometheus/node-exporter\n  tag: v1.7.0\n",
         "quay.io/prometheus/node-exporter:v1.7.0"),
        ("image:\n  repository: prometheus\n  name: node-exporter\n  tag: v1.7.0\n",
         "prometheus/node-exporter:v1.7.0"),
        ("image:\n  name: quay.io/prometheus/node-exporter\n  tag: v1.7.0\n",
         "quay.io/prometheus/node-exporter:v1.7.0"),
        ("image:\n  repo: quay.io/prometheus/node-exporter\n  tag: v1.7.0\n",
         "quay.io/prometheus/node-exporter:v1.7.0"),
        ("exporter:\n  image:\n    repository: docker.io/bitnami/redis-exporter\n    tag: 1.58.0\n"
         "    pullPolicy: IfNotPresent\n", "docker.io/bitnami/redis-exporter:1.58.0"),
    ],
)
def test_helm_styles_tag_change(block: str, expected: str) -> None:
    new = block.replace("v1.7.0", "v1.8.0").replace("1.58.0", "1.59.0")
    expected_new = expected.replace("v1.7.0", "v1.8.0").replace("1.58.0", "1.59.0")
    sides = by_side(refs_of("values.yaml", block, new))
    assert sides == {"added": [expected_new], "removed": [expected]}


def test_whole_new_image_block_is_one_reference() -> None:
    text = "sidecar:\n  image:\n    registry: ghcr.io\n    repository: org/sidecar\n    tag: 2.1.0\n"
    assert [r.reference for r in added("values.yaml", text)] == ["ghcr.io/org/sidecar:2.1.0"]


def test_tag_of_a_mapping_that_is_not_an_image_is_ignored() -> None:
    old = "release:\n  name: my-release\n  tag: v1\n"
    assert refs_of("config.yaml", old, old.replace("v1", "v2")) == []


def test_container_spec_name_and_image_stay_one_line_reference() -> None:
    old = "containers:\n- name: app\n  image: nginx:1.25\n  imagePullPolicy: Always\n"
    sides = by_side(refs_of("deploy.yaml", old, old.replace("1.25", "1.26")))
    assert sides == {"added": ["nginx:1.26"], "removed": ["nginx:1.25"]}


# --- kustomize images: what will be deployed ----------------------------------------------------------------


def test_kustomize_name_and_new_tag() -> None:
    old = "images:\n- name: registry.k8s.io/external-dns/external-dns\n  newTag: v0.14.0\n"
    sides = by_side(refs_of("kustomization.yaml", old, old.replace("v0.14.0", "v0.14.1")))
    assert sides["added"] == ["registry.k8s.io/external-dns/external-dns:v0.14.1"]


def test_kustomize_name_and_digest() -> None:
    old = f"images:\n- name: controller\n  digest: {DIGEST_A}\n"
    refs = refs_of("kustomization.yaml", old, old.replace(DIGEST_A, DIGEST_B))
    assert by_side(refs)["added"] == [f"controller@{DIGEST_B}"]
    assert all(r.context == "kustomize" for r in refs)


def test_kustomize_new_name_changing_reports_the_deployed_reference() -> None:
    old = "images:\n- name: controller\n  newName: gcr.io/k8s-staging-capi/manager\n  newTag: v1.6.0\n"
    new = old.replace("gcr.io/k8s-staging-capi/manager", "registry.k8s.io/capi/manager")
    sides = by_side(refs_of("config/default/kustomization.yaml", old, new))
    assert sides == {"added": ["registry.k8s.io/capi/manager:v1.6.0"],
                     "removed": ["gcr.io/k8s-staging-capi/manager:v1.6.0"]}


# --- keys outside the hunk ----------------------------------------------------------------------------------


def _far_apart(tag: str) -> str:
    return ("image:\n  registry: registry.k8s.io\n  image: ingress-nginx/controller\n"
            + "".join(f"  opt{i}: x\n" for i in range(8)) + f"  tag: {tag}\n")


def test_reader_supplies_keys_outside_the_hunk() -> None:
    files: dict[Side, str] = {"removed": _far_apart("v1.9.4"), "added": _far_apart("v1.9.5")}
    refs = refs_of("values.yaml", files["removed"], files["added"], reader=lambda _path, side: files[side])
    assert by_side(refs) == {"added": ["registry.k8s.io/ingress-nginx/controller:v1.9.5"],
                             "removed": ["registry.k8s.io/ingress-nginx/controller:v1.9.4"]}


def test_without_reader_a_far_tag_is_partial_with_a_note() -> None:
    # git names the enclosing top-level key after the hunk header ("@@ -9,4 +9,4 @@ image:").
    diff = make_diff("values.yaml", _far_apart("v1.9.4"), _far_apart("v1.9.5"))
    refs = extract(parse_diff(re.sub(rb"(?m)^(@@ [^@]* @@)$", rb"\1 image:", diff)))
    assert {r.reference for r in refs} == {":v1.9.4", ":v1.9.5"}
    assert all(r.partial and r.note for r in refs)


def test_git_mode_reads_registry_and_image_keys(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    commit(repo, {"charts/values.yaml": _far_apart("v1.9.4")}, "base")
    commit(repo, {"charts/values.yaml": _far_apart("v1.9.5")}, "bump")
    refs = scan_change(from_git("HEAD~1..HEAD", str(repo)))
    assert {(r.side, r.reference) for r in refs} == {
        ("added", "registry.k8s.io/ingress-nginx/controller:v1.9.5"),
        ("removed", "registry.k8s.io/ingress-nginx/controller:v1.9.4"),
    }


def test_helm_global_registry_is_the_default_registry() -> None:
    text = (
        "global:\n  image:\n    registry: registry.k8s.io\n\ncontroller:\n  image:\n"
        "    # registry: registry.k8s.io\n    image: ingress-nginx/controller\n    tag: v1.9.4\n"
    )
    files: dict[Side, str] = {"removed": text, "added": text.replace("v1.9.4", "v1.9.5")}
    refs = refs_of("values.yaml", files["removed"], files["added"], reader=lambda _path, side: files[side])
    assert by_side(refs)["added"] == ["registry.k8s.io/ingress-nginx/controller:v1.9.5"]


def test_list_of_images_that_are_not_kustomize_entries() -> None:
    text = "images:\n- name: gcr.io/k8s-staging-cluster-api/capd-manager:dev\n  loadBehavior: tryLoad\n"
    refs = added("test/e2e/config/docker.yaml", text)
    assert [(r.reference, r.context) for r in refs] == [
        ("gcr.io/k8s-staging-cluster-api/capd-manager:dev", "yaml-value")]


def test_far_tag_next_to_pull_policy_is_partial_without_a_section() -> None:
    def text(tag: str) -> str:
        return "controller:\n  image:\n    image: org/app\n" + "".join(
            f"    opt{i}: x\n" for i in range(8)) + f"    tag: {tag}\n    pullPolicy: IfNotPresent\n"

    refs = refs_of("values.yaml", text("v1"), text("v2"))
    assert {(r.reference, r.partial) for r in refs} == {(":v1", True), (":v2", True)}


def test_far_tag_of_an_unknown_mapping_is_not_reported() -> None:
    def text(tag: str) -> str:
        return "release:\n  notes:\n" + "".join(f"    opt{i}: x\n" for i in range(8)) + f"    tag: {tag}\n"

    assert refs_of("config.yaml", text("v1"), text("v2")) == []


TILTFILE = '''tilt_helper_dockerfile_header = """
# Tilt image
FROM golang:1.26.2 as tilt-helper
RUN go install github.com/go-delve/delve/cmd/dlv@v1.26
"""

tilt_dockerfile_header = """
FROM gcr.io/distroless/base:debug AS tilt
"""
'''


def test_dockerfile_from_lines_inside_strings_of_other_files() -> None:
    refs = added("Tiltfile", TILTFILE)
    assert [(r.line, r.normalized(), r.context) for r in refs] == [
        (3, "docker.io/library/golang:1.26.2", "dockerfile-from"),
        (8, "gcr.io/distroless/base:debug", "dockerfile-from"),
    ]
    heredoc = 'docker build -t test -f - . <<EOF\nFROM alpine:3.21\nRUN apk add curl\nEOF\n'
    assert [r.normalized() for r in added("hack/build.sh", heredoc)] == ["docker.io/library/alpine:3.21"]


def test_prose_starting_with_from_is_not_an_instruction() -> None:
    text = "FROM the base image we build everything else.\nFrom ubuntu:22.04 you get a shell.\nFROM scratch\n"
    assert added("docs/images.md", text) == []


def test_embedded_from_line_passes_the_byte_prefilter() -> None:
    old = TILTFILE.replace("golang:1.26.2", "golang:1.25.9")
    refs = scan_diff(make_diff("Tiltfile", old, TILTFILE))
    assert by_side(refs) == {"added": ["golang:1.26.2"], "removed": ["golang:1.25.9"]}


HELM_DOCS_README = """## Values

| Key | Type | Default | Description |
|-----|------|---------|-------------|
| image.repository | string | `"registry.k8s.io/external-dns/external-dns"` | Image repository. |
| controller.image.tag | string | `"v1.14.3"` | |
| `addonResizer.image.repository` | addon-resizer image | `registry.k8s.io/autoscaling/addon-resizer:1.8.23` |
| extraContainers[0].image | string | `"quay.io/prometheus/busybox:1.36"` | |

| Registry | Image |
|----------|-------|
| registry.k8s.io | `registry.k8s.io/pause:3.10` |

    docker pull registry.k8s.io/external-dns/external-dns:v0.15.0
"""


def test_chart_values_tables_document_defaults_and_are_not_references() -> None:
    refs = added("charts/external-dns/README.md", HELM_DOCS_README)
    assert [(r.line, r.normalized()) for r in refs] == [
        (12, "registry.k8s.io/pause:3.10"),
        (14, "registry.k8s.io/external-dns/external-dns:v0.15.0"),
    ]


CONTAINER_COMMANDS = """#!/usr/bin/env bash
docker run --rm --privileged tonistiigi/binfmt:qemu-v10.0.4 --install all
docker run -it -v "$PWD:/src" -e GOFLAGS=-mod=vendor --name builder golang:1.26.2 go test ./... && echo done
docker build -t dns-test:v1 -f - . <<EOF
kind load docker-image dns-test:v1 --name e2e
podman pull "$IMAGE"
docker run --rm "${RUNNER}" make test
kubectl run busybox --image=busybox:1.36 --restart=Never -- sleep 5
docker run --rm -v /data:/data alpine
"""


def test_image_arguments_of_container_commands() -> None:
    refs = added("hack/e2e.sh", CONTAINER_COMMANDS)
    assert [(r.line, r.normalized()) for r in refs] == [
        (2, "docker.io/tonistiigi/binfmt:qemu-v10.0.4"),
        (3, "docker.io/library/golang:1.26.2"),
        (4, "docker.io/library/dns-test:v1"),
        (5, "docker.io/library/dns-test:v1"),
        (8, "docker.io/library/busybox:1.36"),
    ]


@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        ('ARG BASE="debian:trixie-slim"\nFROM ${BASE} AS build\nRUN true\n',
         [(1, "docker.io/library/debian:trixie-slim", "dockerfile-arg")]),
        ("ARG BASE_IMAGE=registry.k8s.io/build-image/debian-base:bookworm-v1.0.4\nFROM $BASE_IMAGE\n",
         [(1, "registry.k8s.io/build-image/debian-base:bookworm-v1.0.4", "dockerfile-arg")]),
        ("ARG GO_VERSION=1.26.2\nFROM golang:${GO_VERSION}\n",
         [(2, "docker.io/library/golang:1.26.2", "dockerfile-from")]),
    ],
)
def test_dockerfile_base_image_is_reported_where_it_is_written(
        dockerfile: str, expected: list[tuple[int, str, str]]) -> None:
    refs = added("images/haproxy/Dockerfile", dockerfile)
    assert [(r.line, r.normalized(), r.context) for r in refs] == expected


RELEASE_DOC = """## Staging

A new staging image is published at [gcr.io/k8s-staging-external-dns/external-dns](https://console.cloud.google.com/gcr).

```
registry.k8s.io/external-dns/external-dns
```

Sources live at github.com/kubernetes-sigs/external-dns and https://registry.k8s.io/v2/external-dns/tags/list.
Pull `quay.io/prometheus/node-exporter` for the exporter.
"""


def test_documentation_names_repositories_on_known_registries() -> None:
    refs = added("docs/release.md", RELEASE_DOC)
    assert [(r.line, r.normalized(), r.ref_class) for r in refs] == [
        (3, "gcr.io/k8s-staging-external-dns/external-dns", "staging"),
        (6, "registry.k8s.io/external-dns/external-dns", "release"),
        (10, "quay.io/prometheus/node-exporter", "other"),
    ]


GO_POD_SPEC = """package e2e

func workerPod(image string) corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "worker", Image: "busybox", Command: []string{"sleep", "5"}},
			{Name: "sidecar", Image: image},
		},
	}
}

type Options struct {
	Image: string
}
"""


def test_go_container_image_field_with_a_docker_hub_name() -> None:
    refs = added("test/e2e/pods_test.go", GO_POD_SPEC)
    assert [(r.line, r.normalized()) for r in refs] == [(6, "docker.io/library/busybox")]


def test_action_inputs_named_repository_are_not_an_image() -> None:
    workflow = """jobs:
  lint:
    steps:
      - name: Install ah
        uses: jaxxstorm/action-install-gh-release@v2
        with:
          owner: artifacthub
          repository: hub
          name: ah
          version: latest
"""
    assert added(".github/workflows/lint.yaml", workflow) == []
    values = "exporter:\n  registry: quay.io\n  repository: prometheus/node-exporter\n  tag: v1.8.2\n"
    refs = added("charts/x/values.yaml", values)
    assert [r.normalized() for r in refs] == ["quay.io/prometheus/node-exporter:v1.8.2"]


TUTORIAL_OUTPUT = """```
Creating cluster "rfc2136" ...
 ✓ Ensuring node image (kindest/node:v1.35.1) 🖼
```

Build the image `my-app:v0.3.1` first, then push the image.
The image:tag pair is printed by the tool, and the image name:value form is a placeholder.
"""


def test_prose_names_a_tagged_image_right_after_the_word_image() -> None:
    refs = added("docs/tutorials/rfc2136.md", TUTORIAL_OUTPUT)
    assert [(r.line, r.normalized()) for r in refs] == [
        (3, "docker.io/kindest/node:v1.35.1"), (6, "docker.io/library/my-app:v0.3.1"),
    ]


def test_a_mapping_set_to_null_names_no_image() -> None:
    """kueue's chart moved its image to a template default and set `repository: null`, `tag: null`."""
    old = "controllerManager:\n  image:\n    repository: registry.k8s.io/kueue/kueue\n    tag: v0.14.4\n"
    new = "controllerManager:\n  image:\n    repository: null\n    tag: null\n"
    refs = refs_of("charts/kueue/values.yaml", old, new)
    assert [(r.side, r.normalized()) for r in refs] == [("removed", "registry.k8s.io/kueue/kueue:v0.14.4")]


AZUREDISK_VALUES = """image:
  baseRepo: mcr.microsoft.com
  azuredisk:
    repository: /oss/v2/kubernetes-csi/azuredisk-csi
    tag: v1.33.0
    pullPolicy: IfNotPresent
  csiProvisioner:
    repository: /oss/v2/kubernetes-csi/csi-provisioner
    tag: v5.2.0
"""


def test_a_relative_repository_is_joined_to_the_base_the_chart_writes() -> None:
    """CSI driver charts write `baseRepo` once and `repository: /path` per image; the template joins them."""
    new = AZUREDISK_VALUES.replace("v1.33.0", "v1.34.0")
    refs = refs_of("charts/latest/azuredisk-csi-driver/values.yaml", AZUREDISK_VALUES, new, context=8)
    assert by_side(refs) == {"added": ["mcr.microsoft.com/oss/v2/kubernetes-csi/azuredisk-csi:v1.34.0"],
                             "removed": ["mcr.microsoft.com/oss/v2/kubernetes-csi/azuredisk-csi:v1.33.0"]}
    with_path = AZUREDISK_VALUES.replace("mcr.microsoft.com", "registry.k8s.io/sig-storage")
    refs = refs_of("charts/latest/x/values.yaml", with_path, with_path.replace("v5.2.0", "v6.0.0"), context=8)
    assert "registry.k8s.io/sig-storage/oss/v2/kubernetes-csi/csi-provisioner:v6.0.0" in by_side(refs)["added"]


def test_a_relative_repository_without_its_base_in_sight_is_a_partial() -> None:
    new = AZUREDISK_VALUES.replace("v1.33.0", "v1.34.0")
    [added] = [r for r in refs_of("charts/latest/azuredisk-csi-driver/values.yaml", AZUREDISK_VALUES, new, context=1)
               if r.side == "added"]
    assert added.reference == "/oss/v2/kubernetes-csi/azuredisk-csi:v1.34.0"
    assert added.partial and added.tag == "v1.34.0"
    assert added.note is not None and "--git" in added.note
