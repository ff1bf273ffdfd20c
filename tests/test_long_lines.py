"""Long and adversarial lines: every detector family stays linear, and long lines keep their references.

The time bound is deliberately generous (a safety net against quadratic or exponential
regressions on a shared machine, not a benchmark; see bench/hostile_inputs.py for figures).
"""

from __future__ import annotations

import time

import pytest

from app.analysis.scan import scan_diff
from app.core.detectors import find_candidates
from app.core.longlines import LONG_LINE, find_candidates_bounded

MB = 1_000_000
BOUND_SECONDS = 20.0  # quadratic paths took minutes at this size; linear ones take about a second

# One adversarial line per pattern family: each aims at a regex or loop that used to backtrack
# or rescan (key runs without an operator, dotted hosts, quotes, templates, Dockerfile flags ...).
FAMILIES: dict[str, str] = {
    "key-run-without-operator": "image" + "a" * MB,
    "dotted-host-without-path": "a." * (MB // 2) + "b/",
    "dashed-run": "a-" * (MB // 2) + ":",
    "keys-without-values": "image:" * (MB // 6),
    "unclosed-quotes": '"' * MB,
    "quote-pairs": '"a' * (MB // 2),
    "host-then-endless-path": "reg.io/" + "a/" * (MB // 2),
    "open-templates": "image: " + "{{" * (MB // 2),
    "shell-expansions": "image=" + "${" * (MB // 2),
    "image-words": "image " * (MB // 6),
    "colons": "a:" * (MB // 2),
    "dense-references": "registry.k8s.io/pause:3.9 " * (MB // 26),
    "dense-quoted-references": '"registry.k8s.io/x:v1",' * (MB // 23),
    "dockerfile-flags": "FROM " + "--a " * (MB // 4),
    "dockerfile-mounts": "COPY " + "--mount=" * (MB // 8),
    "blank-yaml-value": "image:" + " " * MB + "x",
}


def diff_of(path: str, line: str) -> bytes:
    return (f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -0,0 +1 @@\n+{line}\n").encode()


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("path", ["deploy/app.yaml", "Dockerfile", "pkg/images.go"])
def test_each_pattern_family_is_linear_on_a_1mb_line(family: str, path: str) -> None:
    data = diff_of(path, FAMILIES[family])
    start = time.perf_counter()
    scan_diff(data)
    assert time.perf_counter() - start < BOUND_SECONDS


def test_long_line_keeps_every_reference() -> None:
    # A minified manifest: references far apart, with megabytes of filler between them.
    filler = '{"k":"' + "x" * 300_000 + '"},'
    line = (filler + '{"image":"registry.k8s.io/pause:3.9"},' + filler
            + '{"image":"harbor.example.net/team/app:1.2"},' + filler + '"quay.io/org/tool:v2"')
    refs = scan_diff(diff_of("dist/manifest.json", line))
    assert sorted(r.reference for r in refs) == [
        "harbor.example.net/team/app:1.2", "quay.io/org/tool:v2", "registry.k8s.io/pause:3.9",
    ]


def test_windowed_path_matches_the_full_scan_on_dense_lines() -> None:
    # Every chunk boundary falls somewhere inside this line: no reference may be lost or cut.
    parts = [f'"registry.k8s.io/component-{i}:v1.{i}.0"' if i % 3 else f"image: quay.io/o/r{i}:{i}"
             for i in range(6000)]
    line = ", ".join(parts)
    assert len(line) > LONG_LINE
    full = [(c.start, c.end, c.value.text) for c in find_candidates(line, "yaml")]
    bounded = [(c.start, c.end, c.value.text) for c in find_candidates_bounded(line, "yaml")]
    assert len(full) == 6000
    assert bounded == full


def test_short_lines_take_the_ordinary_path() -> None:
    line = "image: registry.k8s.io/pause:3.9"
    assert find_candidates_bounded(line, "yaml") == find_candidates(line, "yaml")


def test_key_scan_keeps_flag_and_dotted_keys() -> None:
    # The linear key scan must still see keys after "--" and dotted keys.
    flag = find_candidates("  --image=registry.k8s.io/pause:3.9 --v=2", "shell")
    dotted = find_candidates("controller.image: registry.k8s.io/ingress:v1.2.3", "yaml")
    assert [c.value.text for c in flag] == ["registry.k8s.io/pause:3.9"]
    assert [c.value.text for c in dotted] == ["registry.k8s.io/ingress:v1.2.3"]
