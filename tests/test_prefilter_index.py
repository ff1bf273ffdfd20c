"""The whole-buffer cue index and what the diff parser does with it (app.core.prefilter, app.core.diffs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from diff_helpers import make_diff

from app.core import prefilter as prefilter_module
from app.core.diffs import parse_diff, parse_diff_file, section_cut
from app.core.extract import extract
from app.core.prefilter import ImagePrefilter, index_cues

PREFILTER = ImagePrefilter()

GO_OLD = """package config

var (
\tdefaultImage = "registry.k8s.io/pause:3.9"
\tretries      = 3
\ttimeout      = 10
\tname         = "a"
\tcount        = 1
\tlimit        = 5
)
"""
GO_NEW = GO_OLD.replace("pause:3.9", "pause:3.10").replace("retries      = 3", "retries      = 4")


def lines_at(buf: bytes, starts: list[int]) -> list[bytes]:
    return [buf[s : buf.find(b"\n", s)] for s in starts]


def test_index_finds_changed_and_context_cue_lines_and_sections() -> None:
    diff = make_diff("pkg/images/images.go", GO_OLD, GO_NEW) + make_diff(
        "deploy/app.yaml", "spec:\n  image: nginx:1.24\n  replicas: 1\n", "spec:\n  image: nginx:1.24\n  replicas: 2\n")
    index = index_cues(diff)
    assert lines_at(diff, index.changed) == [
        b'-\tdefaultImage = "registry.k8s.io/pause:3.9"', b'+\tdefaultImage = "registry.k8s.io/pause:3.10"']
    assert lines_at(diff, index.context) == [b"   image: nginx:1.24"]
    assert lines_at(diff, index.sections) == [b"diff --git a/pkg/images/images.go b/pkg/images/images.go",
                                              b"diff --git a/deploy/app.yaml b/deploy/app.yaml"]


@pytest.mark.parametrize("line", [
    b"+IMAGE_TAG=v1.2.3",                                  # upper case
    b"+  Image: quay.io/team/app:1.0",                     # capitalised
    b'+\tref := "harbor.example.net/team/app:1.2"',        # an unknown host with a tag, no cue word
    b"+FROM alpine:3.21",                                  # a Dockerfile line inside another file
    b"+  newName: registry.example.com/app",               # kustomize, camel case
])
def test_index_cues_every_kind_of_cue(line: bytes) -> None:
    diff = b"diff --git a/x.txt b/x.txt\n--- a/x.txt\n+++ b/x.txt\n@@ -0,0 +1 @@\n" + line + b"\n"
    assert lines_at(diff, index_cues(diff).changed) == [line]


def test_file_headers_are_not_changed_lines() -> None:
    diff = (b"diff --git a/images/x.txt b/images/x.txt\n--- a/images/x.txt\n+++ b/images/x.txt\n"
            b"@@ -1 +1 @@\n-a\n+b\n")
    assert index_cues(diff).changed == []


def test_scanning_in_pieces_finds_what_one_piece_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    diff = b"".join(make_diff(f"deploy/app{i}.yaml", f"image: nginx:1.{i}\n", f"image: nginx:1.{i + 1}\n")
                    for i in range(40))
    whole = index_cues(diff)
    monkeypatch.setattr(prefilter_module, "_SCAN_PIECE", 97)  # cuts fall in the middle of lines
    pieces = index_cues(diff)
    assert (pieces.changed, pieces.context, pieces.sections) == (whole.changed, whole.context, whole.sections)
    assert len(whole.changed) == 80


def test_a_changed_name_under_a_context_image_key_is_parsed() -> None:
    """Helm values: only `name:` changed, `image:` and `tag:` are context. The hunk holds no cue on a
    changed line, yet its mapping is an image."""
    old = "controller:\n  image:\n    name: foo/bar\n    tag: 1.0\n  replicas: 1\n"
    refs = extract(parse_diff(make_diff("charts/x/values.yaml", old, old.replace("foo/bar", "foo/baz")), PREFILTER))
    assert sorted((r.side, r.normalized()) for r in refs) == [
        ("added", "docker.io/foo/baz:1.0"), ("removed", "docker.io/foo/bar:1.0")]


def test_only_runs_of_changed_lines_with_a_cue_are_looked_at_in_code() -> None:
    """In Go, a changed line with no cue cannot hold a reference unless it replaces one that has."""
    old = 'var names = []string{\n\t"gcr.io/google_containers:v3",\n\t"x",\n\t"y",\n\t"z",\n\t"w",\n\t"q",\n}\n'
    new = old.replace("gcr.io/google_containers:v3", "k8s.gcr.io:v3").replace('"q"', '"r"')
    [file] = parse_diff(make_diff("pkg/names.go", old, new, context=8), PREFILTER)
    [hunk] = file.hunks
    assert hunk.cued is not None
    looked_at = sorted(hunk.lines[i].text.strip() for i in hunk.cued)
    assert looked_at == ['"gcr.io/google_containers:v3",', '"k8s.gcr.io:v3",']
    assert [r.reference for r in extract([file]) if r.side == "added"] == ["k8s.gcr.io:v3"]


def test_every_line_of_a_dockerfile_or_yaml_hunk_is_looked_at() -> None:
    for path, old, new in (("images/base/Dockerfile", "FROM alpine\nRUN true\n", "FROM debian\nRUN true\n"),
                           ("deploy/app.yaml", "image:\n  name: a\n  tag: 1\n", "image:\n  name: b\n  tag: 1\n")):
        [file] = parse_diff(make_diff(path, old, new), PREFILTER)
        assert file.hunks and file.hunks[0].cued is None


def test_references_only_leaves_out_files_without_a_cue_but_not_the_error_for_non_diffs(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.diff"
    quiet.write_bytes(make_diff("README.txt", "a\n", "b\n"))
    assert parse_diff_file(quiet, PREFILTER, keep_filtered=False) == []
    [kept] = parse_diff_file(quiet, PREFILTER)
    assert kept.filtered and (kept.added, kept.removed) == (1, 1)
    scan = [sys.executable, "-m", "app.cli", "scan", "--diff"]
    ok = subprocess.run([*scan, str(quiet)], capture_output=True, text=True, check=False)
    assert (ok.returncode, ok.stdout.strip()) == (0, "No image references changed.")
    prose = tmp_path / "prose.txt"
    prose.write_text("not a diff at all\n")
    bad = subprocess.run([*scan, str(prose)], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "not a unified diff" in bad.stderr and "Traceback" not in bad.stderr


def test_windows_cut_at_sections_parse_to_the_whole(tmp_path: Path) -> None:
    body = b"".join(make_diff(f"deploy/app{i}.yaml", f"image: nginx:1.{i}\nx: 1\n", f"image: nginx:1.{i + 1}\nx: 2\n")
                    for i in range(12))
    path = tmp_path / "series.diff"
    path.write_bytes(b"From 1234 Mon Sep 17 00:00:00 2001\nSubject: bump\n\n---\n" + body)
    cut = section_cut(path)
    assert cut is not None and path.read_bytes()[cut:].startswith(b"diff --git a/deploy/app")
    for keep in (True, False):
        whole = parse_diff_file(path, PREFILTER, keep_filtered=keep)
        halves = (parse_diff_file(path, PREFILTER, keep_filtered=keep, window=(0, cut))
                  + parse_diff_file(path, PREFILTER, keep_filtered=keep, window=(cut, path.stat().st_size)))
        assert halves == whole and len(whole) == 12


def test_no_cut_in_a_one_file_or_plain_diff(tmp_path: Path) -> None:
    one = tmp_path / "one.diff"
    one.write_bytes(make_diff("a.yaml", "image: a:1\n", "image: a:2\n"))
    plain = tmp_path / "plain.diff"
    plain.write_bytes(b"--- a.yaml\n+++ a.yaml\n@@ -1 +1 @@\n-image: a:1\n+image: a:2\n" * 3)
    empty = tmp_path / "empty.diff"
    empty.write_bytes(b"")
    assert [section_cut(p) for p in (one, plain, empty)] == [None, None, None]


class _Mapping:
    """Records what a page releaser lets go of."""

    def __init__(self) -> None:
        self.released: list[tuple[int, int]] = []

    def madvise(self, _advice: int, start: int, length: int) -> None:
        self.released.append((start, start + length))


def test_each_pass_over_a_mapped_diff_lets_its_pages_go() -> None:
    """The cue scan, then the sections: a 50 MB one-line diff ends both passes at the same place, and
    the pages the second pass brought back must be let go too (they cost 50 MB of peak memory)."""
    from app.core.diffs import _PageReleaser

    mapping = _Mapping()
    release = _PageReleaser(mapping)  # type: ignore[arg-type]
    end = 50 << 20
    release(end)  # the cue scan read everything
    release(end)  # the one section was copied out
    assert mapping.released == [(0, end), (0, end)]
    release(end + (16 << 20))  # a later position in the same pass releases only what is new
    assert mapping.released[-1] == (end, end + (16 << 20))
