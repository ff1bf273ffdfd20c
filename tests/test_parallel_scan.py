"""Scanning a big diff file in two processes (app.analysis.parallel_scan)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from diff_helpers import make_diff

from app.analysis.parallel_scan import WorkerFailed, _forked, scan_diff_file
from app.core.classify import default_classifier
from app.local.inputs import InputError


def big_diff(tmp_path: Path) -> Path:
    """Forty files, a reference changed in every fourth one, noise between them."""
    parts = []
    for i in range(40):
        if i % 4 == 0:
            parts.append(make_diff(f"deploy/svc{i}.yaml", f"image: registry.example.com/svc{i}:v1.{i}\n",
                                   f"image: registry.example.com/svc{i}:v1.{i + 1}\n"))
        else:
            parts.append(make_diff(f"pkg/mod{i}.go", "".join(f"x{n} := {n}\n" for n in range(30)),
                                   "".join(f"x{n} := {n + 1}\n" for n in range(30))))
    path = tmp_path / "big.diff"
    path.write_bytes(b"".join(parts))
    return path


def test_two_processes_find_what_one_finds_in_the_same_order(tmp_path: Path) -> None:
    path = big_diff(tmp_path)
    one = scan_diff_file(str(path), default_classifier(), parallel_from=1 << 40)
    two = scan_diff_file(str(path), default_classifier(), parallel_from=1)
    assert two == one
    assert len(one) == 20
    paths = [r.path for r in one]
    assert paths[0] == "deploy/svc0.yaml" and paths[-1] == "deploy/svc36.yaml"


def test_an_error_in_the_child_is_raised_in_the_parent() -> None:
    def fails() -> None:
        raise InputError("big.diff: input is not a unified diff")

    with pytest.raises(InputError, match="not a unified diff"):
        _forked(fails)()


def test_a_child_that_dies_is_reported() -> None:
    def dies() -> None:
        os._exit(3)

    with pytest.raises(WorkerFailed, match="status 3"):
        _forked(dies)()


def test_the_child_result_comes_back_whole() -> None:
    assert _forked(lambda: ["x" * 100_000, 42])() == ["x" * 100_000, 42]
