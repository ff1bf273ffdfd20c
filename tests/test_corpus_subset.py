"""A fast slice of the labelled public corpus (bench/corpora/public) as a regression guard.

Each case below is scored exactly as `python bench/corpus_accuracy.py` scores it. The floors
are the figures measured when the case was labelled (`python bench/corpus_accuracy.py
--corpus bench/corpora/public --cases`); a change to detection that loses a reference or
adds a false one on these inputs fails here. Raise a floor when detection improves; never
lower one without relabelling the case.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "bench" / "corpora" / "public" / "cases"


def load_scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_accuracy", ROOT / "bench" / "corpus_accuracy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


SCORER = load_scorer()

# slug -> (precision floor, recall floor, required labels); one case per format family.
FLOORS = {
    "kind-4241-update-images": (1.0, 1.0, 6),  # Go const image strings
    "kind-4127-envoy-lb": (0.8, 0.8, 5),  # deleted Dockerfile: ARG default, FROM, cloudbuild step
    "helm-7196-kube-prometheus-stack-deps": (1.0, 1.0, 4),  # helm registry:/repository:/tag: splits
    "ms-1822-cut-v0.9.0": (1.0, 1.0, 4),  # kustomize images: newName/newTag
    "ingress-14516-alpine": (1.0, 0.833, 12),  # Dockerfile FROM, JSON patch
    "capi-14037-cloudbuild-image": (1.0, 1.0, 4),  # Cloud Build step, staging -> release by digest
    "capi-10489-nightly-manifests": (1.0, 1.0, 0),  # negative: staging GCS buckets
    "kind-3905-ingress-nginx-docs": (1.0, 1.0, 2),  # app.kubernetes.io/version label values
    "edns-6626-release-tag-docs": (1.0, 1.0, 6),  # docs with staging and vX.Y.Z placeholders
}


def test_subset_cases_are_committed_and_labelled() -> None:
    for slug in FLOORS:
        case = json.loads((CASES / slug / "case.json").read_text())
        assert case["repo"] != "kubernetes/kops"
        assert (CASES / slug / "pr.diff").stat().st_size > 0


@pytest.mark.parametrize("slug", sorted(FLOORS))
def test_case_keeps_its_accuracy(slug: str) -> None:
    precision_floor, recall_floor, required = FLOORS[slug]
    score = SCORER.score_case(CASES / slug)
    assert score.required == required, "labels changed: re-measure the floors"
    assert score.precision >= precision_floor, f"new false positives: {score.fp_items}"
    assert score.recall >= recall_floor - 1e-9, f"references no longer found: {score.fn_items}"


def test_negative_case_reports_nothing() -> None:
    score = SCORER.score_case(CASES / "capi-10489-nightly-manifests")
    assert score.found == 0
