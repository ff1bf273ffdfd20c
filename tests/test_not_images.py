"""Things that look like image references and are not: none of them may be reported."""

from __future__ import annotations

import pytest
from diff_helpers import added

NOT_IMAGES = [
    # VM and machine images
    ("cluster.yaml", "    image: ami-0b9b4e1b4d3c2a1f0"),
    ("machines.yaml", "  image: ubuntu-22-04-x64"),
    ("hack/do.sh", "doctl compute droplet create test --image=ubuntu-16-04-x64 --size s-1vcpu-1gb"),
    ("openstack.yaml", "      image: ubuntu-20.04"),
    ("openstack.yaml", "      image: cirros-0.6.2-x86_64-disk"),
    ("main.tf", '  image  = "debian-11-x64"'),
    ("docs/quick-start.md", 'export CLOUDSCALE_MACHINE_IMAGE="custom:ubuntu-2404-kube-v1.36.1"'),
    ("docs/quick-start.md", 'export NODE_IMAGE="ubuntu-noble"'),
    ("cluster.yaml", "  osImage: debian-12-genericcloud"),
    # label, taint and IAM keys
    ("pkg/taints.go", '\ttaint := "node-role.kubernetes.io/control-plane:NoSchedule"'),
    ("nodes.yaml", "    - nvidia.com/gpu:NoSchedule"),
    (".github/workflows/release.yaml", '      run: yq -i \'.metadata.labels["helm.sh/chart:"]\' x.yaml'),
    ("hack/labels.sh", 'grep "app.kubernetes.io/version:" rendered.yaml'),
    ("pkg/labels.go", '\tkey := "cluster.x-k8s.io/cluster-name:" + name'),
    ("pkg/iam.go", '\t\tAction: []string{"ec2:DescribeInstances", "iam:PassRole"},'),
    ("pkg/model.go", '\tResourceType: "ec2:Instance",'),
    ("policy.json", '      "Action": "s3:GetObject",'),
    # PromQL / Grafana label matchers
    ("alerts.yaml", '        expr: sum(rate(container_cpu_usage_seconds_total{container="manager"}[5m]))'),
    ("dashboard.json", '  "expr": "kube_pod_container_info{image=~\\"$image\\", container=\\"app\\"}"'),
    # Azure resource types: upper case is never a registry host in practice
    ("provider/azure/zones.go", '\tid := "Microsoft.Network/dnszones/" + zone'),
    # Docker Desktop label keys under a docker.io subdomain that serves no images
    ("pkg/provider.go", '\tkey := "desktop.docker.io/ports/6443/tcp"'),
    # a registry setting in code holds a registry, never name:tag (npm scopes)
    ("customizations/codeartifact/login.py", "        registry = '{}:registry'.format(scope) if scope else 'registry'"),
    ("pkg/npm.go", '\tregistry := fmt.Sprintf("%s:registry", scope)'),
    # a MIME type table
    ("rootfs/etc/mime.types", "# img: application/octet-stream"),
    # YAML's null: a chart or manifest that names no image
    ("values.yaml", "  image: null"),
    ("values.yaml", "  image: ~"),
    # numbers
    ("values.yaml", "  image: 12345"),
    ("values.yaml", '  image: "1.30.0"'),
    # Makefile rules
    ("Makefile", "image: clean-image"),
    ("Makefile", "docker-image: build"),
    ("Makefile", "release-image: image"),
    # protobuf field declarations
    ("api/v1/node.proto", "  string image = 3;"),
    ("api/v1/node.proto", "  repeated string image_registry = 4;"),
    # a digest on its own (a README table of Helm values)
    ("charts/x/README.md", '| controller.image.digest | string | `"sha256:' + "4e" * 32 + '"` | |'),
    ("values.yaml", '  digestChroot: "sha256:' + "af" * 32 + '"'),
    # a top-level digest of a Helm Chart.lock, not an image's
    ("charts/x/Chart.lock", "digest: sha256:" + "0a" * 32),
    # BuildKit frontend: a parser directive, not a deployed image
    ("Dockerfile", "# syntax=docker/dockerfile:1.4"),
    ("build/Dockerfile", "# syntax=docker.io/docker/dockerfile:1.7@sha256:" + "c" * 64),
]


@pytest.mark.parametrize(("path", "line"), NOT_IMAGES)
def test_not_an_image(path: str, line: str) -> None:
    assert added(path, line + "\n") == []


IMAGES = [
    ("docker-compose.yml", "    image: grafana/grafana", "grafana/grafana"),
    ("values.yaml", "  image: bitnami/kubectl", "bitnami/kubectl"),
    ("pod.yaml", "    image: nginx", "nginx"),
    ("pod.yaml", "    image: ubuntu:22.04", "ubuntu:22.04"),
    ("pod.yaml", "    image: busybox:1.36", "busybox:1.36"),
    ("Makefile", "IMAGE := registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
    ("pkg/taints.go", '\timg := "quay.io/org/app:v1.2.3"', "quay.io/org/app:v1.2.3"),
    ("Dockerfile", "FROM golang:1.22 AS build", "golang:1.22"),
    ("alerts.yaml", "      image: quay.io/prometheus/alertmanager:v0.27.0", "quay.io/prometheus/alertmanager:v0.27.0"),
]


@pytest.mark.parametrize(("path", "line", "expected"), IMAGES)
def test_look_alike_neighbours_that_are_images(path: str, line: str, expected: str) -> None:
    assert [r.reference for r in added(path, line + "\n")] == [expected]
