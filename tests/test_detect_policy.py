"""The staging-image rule on the new detection shapes: it fires on assembled references, not on prefixes."""

from __future__ import annotations

from diff_helpers import make_diff

from app.analysis.analyze import ChangeSet, analyze
from app.core.diffs import parse_diff


def staging_findings(path: str, old: str, new: str) -> list[tuple[str, int | None]]:
    analysis = analyze(ChangeSet(files=parse_diff(make_diff(path, old, new))))
    return [(f.path, f.line) for f in analysis.findings if f.name == "staging-image"]


def test_helm_split_assembled_to_a_staging_image_is_a_finding() -> None:
    old = "image:\n  registry: registry.k8s.io\n  repository: capi/manager\n  tag: v1.6.0\n"
    new = "image:\n  registry: gcr.io\n  repository: k8s-staging-capi/manager\n  tag: v1.6.1\n"
    assert staging_findings("charts/capi/values.yaml", old, new) == [("charts/capi/values.yaml", 2)]


def test_shell_image_composed_from_a_staging_registry_is_a_finding_and_the_prefix_is_not() -> None:
    new = 'REGISTRY="gcr.io/k8s-staging-foo"\nNAME=controller\nIMAGE="${REGISTRY}/${NAME}:v1.2.0"\n'
    analysis = analyze(ChangeSet(files=parse_diff(make_diff("deploy/install.sh", "", new))))
    prefix = next(r for r in analysis.references if r.line == 1)
    assert prefix.partial and prefix.ref_class == "staging"
    assert [(f.path, f.line) for f in analysis.findings if f.name == "staging-image"] == [("deploy/install.sh", 3)]


def test_makefile_staging_push_target_is_allowed_and_counted_once() -> None:
    new = "REGISTRY ?= gcr.io/k8s-staging-foo\nNAME ?= controller\nIMG ?= $(REGISTRY)/$(NAME):v1.2.0\n"
    analysis = analyze(ChangeSet(files=parse_diff(make_diff("Makefile", "", new))))
    assert not [f for f in analysis.findings if f.name == "staging-image"]
    assert any(n.startswith("1 staging image reference(s) added on paths where the policy allows")
               for n in analysis.summary_notes)


def test_kustomize_new_name_to_staging_is_a_finding() -> None:
    old = "images:\n- name: controller\n  newName: registry.k8s.io/capi/manager\n  newTag: v1.6.0\n"
    new = old.replace("registry.k8s.io/capi/manager", "gcr.io/k8s-staging-capi/manager")
    assert staging_findings("config/default/kustomization.yaml", old, new) == [
        ("config/default/kustomization.yaml", 3)]
