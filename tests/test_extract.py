"""Extraction: which changed lines hold image references, per file kind, and what does not count."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from gitrepo import commit, init_repo

from app.analysis.scan import scan_change
from app.core.diffs import parse_diff
from app.core.extract import extract
from app.core.models import RefChange
from app.local.inputs import from_git


def make_diff(path: str, old: str, new: str) -> bytes:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}", n=3
    )
    text = f"diff --git a/{path} b/{path}\n" + "".join(lines)
    return text.encode()


def refs_of(path: str, old: str, new: str) -> list[RefChange]:
    return extract(parse_diff(make_diff(path, old, new)))


def added(path: str, text: str) -> list[RefChange]:
    return [r for r in refs_of(path, "", text) if r.side == "added"]


def names(refs: list[RefChange]) -> list[str]:
    return [r.reference for r in refs]


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_from_platform_stage_and_copy_from() -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM golang:1.22-bookworm AS build\n"
        "RUN go build ./...\n"
        "FROM build AS test\n"
        "FROM gcr.io/distroless/static:nonroot\n"
        "COPY --from=build /out /out\n"
        "COPY --from=registry.k8s.io/pause:3.9 /pause /pause\n"
        "FROM scratch\n"
    )
    refs = added("Dockerfile", text)
    assert names(refs) == ["golang:1.22-bookworm", "gcr.io/distroless/static:nonroot", "registry.k8s.io/pause:3.9"]
    assert [r.context for r in refs] == ["dockerfile-from", "dockerfile-from", "dockerfile-copy-from"]
    assert refs[0].registry == "docker.io" and refs[0].repository == "library/golang"
    assert refs[0].line == 1 and refs[1].line == 4


def test_dockerfile_arg_default_substituted() -> None:
    text = "ARG BASE=registry.k8s.io/build-image/debian-base\nARG TAG=bookworm-v1.0.4\nFROM ${BASE}:$TAG\n"
    refs = added("images/Containerfile", text)
    assert names(refs) == ["registry.k8s.io/build-image/debian-base:bookworm-v1.0.4"]
    assert refs[0].templated is False and refs[0].ref_class == "release"


def test_dockerfile_arg_outside_file_stays_templated() -> None:
    refs = added("build/app.Dockerfile", "FROM ${BASE_IMAGE}:v1\n")
    assert refs == [] or all(r.templated for r in refs)


# --- Kubernetes YAML ----------------------------------------------------------------------------

POD = """\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers:
      - name: init
        image: "busybox:1.36"
      containers:
      - name: app
        image: 'gcr.io/k8s-staging-foo/app:v0.1.0-3-gabcdef1'
        imagePullPolicy: IfNotPresent
      - {name: side, image: quay.io/prometheus/node-exporter:v1.8.0}
      ephemeralContainers:
      - name: debug
        image: nginx
---
apiVersion: batch/v1
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - image: registry.k8s.io/kubectl:v1.30.0  # pinned
"""


def test_kubernetes_yaml_every_container_form() -> None:
    refs = added("deploy/app.yaml", POD)
    assert names(refs) == [
        "busybox:1.36",
        "gcr.io/k8s-staging-foo/app:v0.1.0-3-gabcdef1",
        "quay.io/prometheus/node-exporter:v1.8.0",
        "nginx",
        "registry.k8s.io/kubectl:v1.30.0",
    ]
    assert [r.ref_class for r in refs] == ["other", "staging", "other", "other", "release"]
    assert all(r.context == "yaml-image" and r.plain for r in refs)


def test_bump_is_one_in_place_pair() -> None:
    old = "containers:\n- name: etcd\n  image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g09fbed34\n"
    new = old.replace(
        "gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g09fbed34",
        "registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203",
    )
    refs = refs_of("manifest.yaml", old, new)
    assert sorted((r.side, r.in_place, r.line) for r in refs) == [("added", True, 3), ("removed", True, 3)]


def test_line_with_other_changes_is_not_in_place() -> None:
    old = "  image: nginx:1.25\n"
    new = "  image: nginx:1.26 # bumped\n"
    refs = refs_of("a.yaml", old, new)
    assert {r.in_place for r in refs} == {False}


def test_yaml_comment_reference_is_flagged() -> None:
    refs = added("model.yaml", "  # image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220417\n")
    assert len(refs) == 1 and refs[0].in_comment and not refs[0].plain


# --- Helm split fields -----------------------------------------------------------------------------

HELM = """\
image:
  registry: ghcr.io
  repository: example/controller
  tag: v1.2.3
  pullPolicy: IfNotPresent
"""


def test_helm_tag_only_change_assembled_from_hunk_context() -> None:
    refs = refs_of("charts/x/values.yaml", HELM, HELM.replace("v1.2.3", "v1.3.0"))
    by_side = {r.side: r for r in refs}
    assert by_side["added"].reference == "ghcr.io/example/controller:v1.3.0"
    assert by_side["removed"].reference == "ghcr.io/example/controller:v1.2.3"
    assert by_side["added"].context == "yaml-split" and by_side["added"].line == 4
    assert by_side["added"].lines == (2, 3, 4)


def test_helm_split_without_repository_in_context_is_partial_with_note() -> None:
    diff = (
        b"diff --git a/values.yaml b/values.yaml\n--- a/values.yaml\n+++ b/values.yaml\n"
        b"@@ -14,3 +14,3 @@ image:\n   p4: v\n   p5: v\n-  tag: v1\n+  tag: v2\n"
    )
    refs = extract(parse_diff(diff))
    assert {(r.side, r.reference, r.line) for r in refs} == {("added", ":v2", 16), ("removed", ":v1", 16)}
    assert all(r.partial and r.note and "--git" in r.note for r in refs)


def test_helm_split_in_git_mode_reads_the_file(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    values = (
        "image:\n  repository: registry.k8s.io/ingress-nginx/controller\n"
        + "".join(f"  opt{i}: x\n" for i in range(10))
        + "  tag: v1.10.0\n"
    )
    commit(repo, {"values.yaml": values}, "base")
    commit(repo, {"values.yaml": values.replace("v1.10.0", "v1.11.0")}, "bump")
    change = from_git("HEAD~1..HEAD", str(repo))
    refs = scan_change(change)
    assert {(r.side, r.reference) for r in refs} == {
        ("added", "registry.k8s.io/ingress-nginx/controller:v1.11.0"),
        ("removed", "registry.k8s.io/ingress-nginx/controller:v1.10.0"),
    }
    assert all(r.commit for r in refs)


def test_bazel_container_pull_split() -> None:
    old = (
        'container_pull(\n    name = "base",\n    digest = "sha256:' + "a" * 64 + '",\n'
        '    registry = "gcr.io",\n    repository = "google_containers/debian-base",\n    tag = "0.8",\n)\n'
    )
    new = old.replace('"gcr.io"', '"registry.k8s.io"').replace("google_containers/debian-base", "debian-base")
    refs = refs_of("WORKSPACE", old, new)
    added_ref = next(r for r in refs if r.side == "added")
    assert added_ref.reference == "registry.k8s.io/debian-base:0.8@sha256:" + "a" * 64
    assert added_ref.line == 4 and added_ref.context == "starlark-split"


# --- kustomize, compose, GitHub Actions -----------------------------------------------------------------


def test_kustomize_images() -> None:
    old = (
        "images:\n- name: controller\n"
        "  newName: gcr.io/k8s-staging-cluster-api/cluster-api-controller\n  newTag: main\n"
    )
    refs = refs_of("config/kustomization.yaml", old, old.replace("newTag: main", "newTag: v1.7.0"))
    new_ref = next(r for r in refs if r.side == "added")
    assert new_ref.reference == "gcr.io/k8s-staging-cluster-api/cluster-api-controller:v1.7.0"
    assert new_ref.context == "kustomize" and new_ref.ref_class == "staging"


def test_compose_image() -> None:
    refs = added("docker-compose.yml", "services:\n  db:\n    image: postgres:16.2\n  cache:\n    image: redis\n")
    assert names(refs) == ["postgres:16.2", "redis"]


def test_github_actions_docker_uses_and_container() -> None:
    text = (
        "jobs:\n  build:\n    container: node:20-bookworm\n    services:\n      redis:\n        image: redis:7\n"
        "    steps:\n    - uses: actions/checkout@v4\n    - uses: docker://alpine:3.19\n"
    )
    refs = added(".github/workflows/ci.yml", text)
    assert names(refs) == ["node:20-bookworm", "redis:7", "alpine:3.19"]


# --- source code and scripts ----------------------------------------------------------------------------


POSITIVE_LINES = [
    (
        "pkg/model/etcd.go",
        'const DefaultBackupImage = "registry.k8s.io/etcdadm/etcd-backup:v3.0.20220203"',
        "registry.k8s.io/etcdadm/etcd-backup:v3.0.20220203",
    ),
    ("pkg/a.go", '\timage := fmt.Sprintf("registry.k8s.io/etcd:%s", version)', "registry.k8s.io/etcd:%s"),
    ("tools/build.py", 'BASE_IMAGE = "python:3.12-slim"', "python:3.12-slim"),
    (
        "hack/e2e.sh",
        "IMAGE=registry.k8s.io/e2e-test-images/agnhost:2.47",
        "registry.k8s.io/e2e-test-images/agnhost:2.47",
    ),
    ("hack/run.sh", "kubectl run x --image=registry.k8s.io/pause:3.9 --restart=Never", "registry.k8s.io/pause:3.9"),
    ("Makefile", "BUILD_IMAGE ?= golang:1.22.1", "golang:1.22.1"),
    (
        "infra/main.tf",
        '  image = "us-docker.pkg.dev/my-proj/app/server:1.4.2"',
        "us-docker.pkg.dev/my-proj/app/server:1.4.2",
    ),
    ("images.json", '  "image": "ghcr.io/org/tool:v2.0.1",', "ghcr.io/org/tool:v2.0.1"),
    ("config.toml", 'sandbox_image = "registry.k8s.io/pause:3.9"', "registry.k8s.io/pause:3.9"),
    (
        "tests/integration/data/aws_s3_object_manifest_content",
        "    image: registry.k8s.io/kops/dns-controller:1.30.0",
        "registry.k8s.io/kops/dns-controller:1.30.0",
    ),
    ("docs/upgrade.md", "Pull `quay.io/cilium/cilium:v1.16.2` first.", "quay.io/cilium/cilium:v1.16.2"),
]


@pytest.mark.parametrize(("path", "line", "expected"), POSITIVE_LINES)
def test_code_and_script_forms(path: str, line: str, expected: str) -> None:
    assert names(added(path, line + "\n")) == [expected]


def test_templated_and_partial_flags() -> None:
    refs = added("pkg/assets.go", '\tif strings.HasPrefix(image, "registry.k8s.io/kops/dns-controller:") {\n')
    assert len(refs) == 1 and refs[0].partial and refs[0].tag is None
    refs = added(
        "pkg/ccm.go", '\teccm.Image = fmt.Sprintf("registry.k8s.io/provider-aws/cloud-controller-manager:%v", tag)\n'
    )
    assert refs[0].templated and refs[0].tag is None and refs[0].ref_class == "release"
    refs = added("addon.yaml.template", '        image: "{{ or .Registry "quay.io" }}/cilium/cilium:{{ .Version }}"\n')
    assert refs[0].templated and refs[0].registry is None
    assert added("a.yaml", "        image: {{ .ExternalCloudControllerManager.Image }}\n") == []


def test_go_template_default_branch() -> None:
    line = (
        "        image: {{ if .CCM.Image }}{{ .CCM.Image }}{{ else }}"
        "gcr.io/k8s-staging-provider-aws/cloud-controller-manager:latest{{ end }}\n"
    )
    refs = added("ccm.yaml.template", line)
    assert names(refs) == ["gcr.io/k8s-staging-provider-aws/cloud-controller-manager:latest"]
    assert refs[0].ref_class == "staging"


def test_hostname_with_tag_is_a_docker_hub_reference() -> None:
    refs = added("pkg/validation/x_test.go", '\t\tNames: []string{"k8s.gcr.io:v3"},\n')
    assert len(refs) == 1 and refs[0].registry == "docker.io" and refs[0].ref_class == "other"


def test_unknown_kind_needs_known_registry_and_tag() -> None:
    text = "etcd registry.k8s.io/etcd:3.5.12-0\nfoo bar/baz:1.0\nsee gcr.io/k8s-staging-x/y\n"
    assert names(added("NOTES.txt", text)) == ["registry.k8s.io/etcd:3.5.12-0"]


# --- look-alikes that are not image references -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("docs/a.md", "See https://gcr.io/k8s-staging-kops/kops:1.0 and https://registry.k8s.io/v2/pause/tags/list"),
        ("hack/x.sh", "gsutil cp gs://k8s-staging-kops/kops/releases/1.30/linux/amd64/kops ."),
        ("docs/b.md", 'marker="https://storage.googleapis.com/k8s-staging-kops/kops/releases/markers/latest-ci.txt"'),
        ("pkg/a.go", 'import "k8s.io/api/apps/v1"'),
        ("pkg/b.go", '\t"github.com/google/go-containerregistry/pkg/name"'),
        ("deploy/x.yaml", "apiVersion: apps/v1"),
        ("cron.yaml", 'schedule: "10:30"'),
        ("config.yaml", "server: api.internal.example.com:6443"),
        ("config.yaml", "endpoint: 127.0.0.1:2379"),
        ("OWNERS.md", "Contact kops-maintainers@googlegroups.com or admin@gcr.io"),
        ("pkg/version.go", 'const Version = "1.30.0"'),
        ("pkg/c.go", 'path := "/etc/kubernetes/manifests/etcd.yaml"'),
        ("run-test.sh", 'create_args+=("--image=${INSTANCE_IMAGE:-ubuntu-os-cloud/ubuntu-2204-jammy-v20231213a}")'),
        (
            "run-test.sh",
            "--image=ssm:/aws/service/canonical/ubuntu/server/20.04/stable/current/amd64/hvm/ebs-gp2/ami-id",
        ),
        ("crd.yaml", "              image:"),
        ("crd.yaml", "              osImage: Ubuntu 22.04.4 LTS"),
        ("pod.yaml", "        imagePullPolicy: IfNotPresent"),
        ("machine.yaml", "      image: projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"),
        ("Chart.yaml", "version: 1.8.1"),
        ("pkg/d.go", '\tnormalized = strings.TrimPrefix(normalized, "registry.k8s.io/")'),
        ("docs/c.md", "Use `<image-name>:<tag>` as the argument."),
        ("app/models.py", "    image: str"),
        ("app/splits.py", "    parent_is_image: bool"),
        ("app/splits.py", '    parent_is_image = "image" in parent.lower()'),
        ("build.sh", 'echo "built at 12:45:00"'),
    ],
)
def test_not_an_image_reference(path: str, line: str) -> None:
    assert added(path, line + "\n") == []


def test_removed_lines_use_old_numbers_and_added_new_numbers() -> None:
    old = "a: 1\nb: 2\nimage: nginx:1.25\n"
    new = "x: 0\na: 1\nb: 2\nimage: nginx:1.26\n"
    refs = refs_of("pod.yaml", old, new)
    assert {(r.side, r.line) for r in refs} == {("removed", 3), ("added", 4)}


def test_deleted_file_reports_removed_references() -> None:
    refs = refs_of("manifests/old.yaml", "image: gcr.io/k8s-staging-cluster-api/cluster-api-controller:main\n", "")
    assert [(r.side, r.ref_class) for r in refs] == [("removed", "staging")]
