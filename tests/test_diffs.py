"""Tests for app.core.diffs: git and plain unified diffs, prefilters, format-patch mailboxes."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core import diffs
from app.core.diffs import (
    Commit,
    DiffError,
    FileDiff,
    Line,
    iter_changed_lines,
    parse_diff,
    parse_diff_file,
    parse_mbox,
)

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

SHA = "0123456789abcdef0123456789abcdef01234567"


def lines_of(diff: FileDiff) -> list[tuple[str, str, int | None, int | None]]:
    return [(line.kind, line.text, line.old_no, line.new_no) for hunk in diff.hunks for line in hunk.lines]


def by_path(files: list[FileDiff]) -> dict[str, FileDiff]:
    return {f.path: f for f in files}


def reject_all(section: bytes) -> bool:
    return False


# --------------------------------------------------------------------------- real git output


def _git(repo: Path, *args: str) -> bytes:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
        "GIT_AUTHOR_DATE": "2024-01-02T03:04:05+00:00",
        "GIT_COMMITTER_DATE": "2024-01-02T03:04:05+00:00",
    }
    result = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return result.stdout


def _write(repo: Path, name: str, data: bytes) -> None:
    (repo / name).write_bytes(data)


TAB_NAME = "ta\tb.txt"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose last commit exercises every kind of file change."""
    repo = tmp_path_factory.mktemp("repo")
    _git(repo, "init", "-q", ".")
    _git(repo, "config", "core.autocrlf", "false")
    _write(repo, "same.txt", b"".join(b"%d\n" % i for i in range(1, 11)))
    _write(repo, "edit.txt", b"".join(b"%d\n" % i for i in range(1, 21)))
    _write(repo, "script.sh", b"#!/bin/sh\n")
    _write(repo, "gone.txt", b"bye\n")
    _write(repo, "nonl.txt", b"a\nb")
    _write(repo, "crlf.txt", b"one\r\ntwo\r\n")
    _write(repo, "latin1.txt", b"caf\xe9\n")
    _write(repo, "with space.txt", b"x\n")
    _write(repo, "ünï.txt", b"u\n")
    _write(repo, TAB_NAME, b"tab\n")
    _write(repo, "img.bin", bytes(range(256)) * 2)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "initial")

    _git(repo, "mv", "same.txt", "moved_same.txt")
    _git(repo, "mv", "edit.txt", "moved_edit.txt")
    _write(repo, "moved_edit.txt", b"".join(b"%d\n" % i for i in range(1, 21)).replace(b"\n10\n", b"\nten\n"))
    (repo / "script.sh").chmod(0o755)
    _git(repo, "rm", "-q", "gone.txt")
    _write(repo, "new.txt", b"new\n")
    _write(repo, "nonl.txt", b"a\nc")
    _write(repo, "crlf.txt", b"one\r\nTWO\r\n")
    _write(repo, "latin1.txt", b"caf\xe8\n")
    _write(repo, "with space.txt", b"y\n")
    _write(repo, "ünï.txt", b"v\n")
    _write(repo, TAB_NAME, b"TAB\n")
    _write(repo, "img.bin", bytes(range(255, -1, -1)) * 2)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "change everything")
    return repo


@pytest.fixture(scope="module")
def git_diff(repo: Path) -> bytes:
    return _git(repo, "diff", "-M", "HEAD~1", "HEAD")


@needs_git
def test_git_diff_paths_and_flags(git_diff: bytes) -> None:
    files = by_path(parse_diff(git_diff))
    assert sorted(files) == sorted(
        [
            "crlf.txt",
            "gone.txt",
            "img.bin",
            "latin1.txt",
            "moved_edit.txt",
            "moved_same.txt",
            "new.txt",
            "nonl.txt",
            "script.sh",
            TAB_NAME,
            "with space.txt",
            "ünï.txt",
        ]
    )
    gone, new = files["gone.txt"], files["new.txt"]
    assert (gone.old_path, gone.new_path, gone.old_mode) == ("gone.txt", None, "100644")
    assert (new.old_path, new.new_path, new.new_mode) == (None, "new.txt", "100644")
    assert lines_of(gone) == [("-", "bye", 1, None)]
    assert lines_of(new) == [("+", "new", None, 1)]


@needs_git
def test_git_renames(git_diff: bytes) -> None:
    files = by_path(parse_diff(git_diff))
    same, edit = files["moved_same.txt"], files["moved_edit.txt"]
    assert (same.old_path, same.hunks, same.added, same.removed) == ("same.txt", [], 0, 0)
    assert edit.old_path == "edit.txt"
    assert (edit.added, edit.removed) == (1, 1)
    changed = [line for line in edit.hunks[0].lines if line.kind != " "]
    assert changed == [Line("-", "10", 10, None), Line("+", "ten", None, 10)]


@needs_git
def test_git_mode_change_and_binary(repo: Path, git_diff: bytes) -> None:
    files = by_path(parse_diff(git_diff))
    script = files["script.sh"]
    assert (script.old_mode, script.new_mode, script.hunks, script.binary) == ("100644", "100755", [], False)
    assert files["img.bin"].binary
    assert files["img.bin"].hunks == []
    # With --binary the payload follows in base85; the files after it must still parse.
    binary_patch = by_path(parse_diff(_git(repo, "diff", "--binary", "-M", "HEAD~1", "HEAD")))
    assert binary_patch["img.bin"].binary
    assert binary_patch["img.bin"].hunks == []
    assert lines_of(binary_patch["latin1.txt"]) == lines_of(files["latin1.txt"])
    assert set(binary_patch) == set(files)


@needs_git
def test_git_line_endings_and_encodings(git_diff: bytes) -> None:
    files = by_path(parse_diff(git_diff))
    assert lines_of(files["nonl.txt"]) == [(" ", "a", 1, 1), ("-", "b", 2, None), ("+", "c", None, 2)]
    assert lines_of(files["crlf.txt"]) == [(" ", "one", 1, 1), ("-", "two", 2, None), ("+", "TWO", None, 2)]
    assert lines_of(files["latin1.txt"]) == [("-", "caf\ufffd", 1, None), ("+", "caf\ufffd", None, 1)]


@needs_git
def test_git_quoted_and_spaced_paths(git_diff: bytes) -> None:
    assert b'"a/\\303\\274n\\303\\257.txt"' in git_diff  # git quoted the non-ASCII name
    files = by_path(parse_diff(git_diff))
    assert lines_of(files["ünï.txt"]) == [("-", "u", 1, None), ("+", "v", None, 1)]
    assert files[TAB_NAME].old_path == TAB_NAME
    assert lines_of(files["with space.txt"]) == [("-", "x", 1, None), ("+", "y", None, 1)]


@needs_git
def test_prefilter_keeps_paths_and_counts(git_diff: bytes) -> None:
    full = parse_diff(git_diff)
    seen: list[bytes] = []

    def only_crlf(section: bytes) -> bool:
        seen.append(section)
        return b"TWO" in section

    filtered = parse_diff(git_diff, only_crlf)
    assert len(seen) == len(full)
    assert all(section.startswith(b"diff --git ") for section in seen)
    for whole, light in zip(full, filtered, strict=True):
        assert (light.old_path, light.new_path, light.binary) == (whole.old_path, whole.new_path, whole.binary)
        assert (light.old_mode, light.new_mode) == (whole.old_mode, whole.new_mode)
        assert (light.added, light.removed) == (whole.added, whole.removed)
        if light.path == "crlf.txt":
            assert not light.filtered
            assert light.hunks == whole.hunks
        else:
            assert light.filtered
            assert light.hunks == []


@needs_git
def test_parse_diff_file(tmp_path: Path, git_diff: bytes) -> None:
    path = tmp_path / "pr.diff"
    path.write_bytes(git_diff)
    assert parse_diff_file(path) == parse_diff(git_diff)
    assert parse_diff_file(str(path), reject_all) == parse_diff(git_diff, reject_all)
    empty = tmp_path / "empty.diff"
    empty.write_bytes(b"")
    assert parse_diff_file(empty) == []


def test_parse_diff_file_large(tmp_path: Path) -> None:
    # Big enough for the parser to hand pages of the mapped file back while it goes.
    section = b"diff --git a/f%d b/f%d\nindex 1..2 100644\n--- a/f%d\n+++ b/f%d\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n"
    data = b"".join(section % (i, i, i, i) for i in range(120_000))
    path = tmp_path / "big.diff"
    path.write_bytes(data)
    wanted = {b"a/f7 ", b"a/f119999 "}
    files = parse_diff_file(path, lambda s: any(w in s for w in wanted))
    assert len(files) == 120_000
    assert sum(f.added for f in files) == sum(f.removed for f in files) == 120_000
    assert [f.path for f in files if not f.filtered] == ["f7", "f119999"]
    assert lines_of(files[-1]) == [(" ", "a", 1, 1), ("-", "b", 2, None), ("+", "c", None, 2), (" ", "d", 3, 3)]


# --------------------------------------------------------------------------- mailboxes


@pytest.fixture(scope="module")
def mbox(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    repo = tmp_path_factory.mktemp("mbox")
    _git(repo, "init", "-q", ".")
    _write(repo, "base.txt", b"base\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _write(repo, "a.txt", b"one\n")
    _git(repo, "add", "-A")
    long_subject = "Bump the registry image to a release whose subject is long enough to be folded in the mail"
    _git(
        repo,
        "commit",
        "-qm",
        long_subject,
        "-m",
        "Body line\n---\nstill the body",
        "--author",
        "Jörg Müller <jm@example.com>",
    )
    # A file line that looks like a message start: in the diff it carries a '+' marker.
    _write(repo, "b.txt", f"From {SHA} Mon Sep 17 00:00:00 2001\n-- \n2.39.5\n".encode())
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "Ünïcode subject for the café image, long enough that git folds the encoded words")
    _git(repo, "rm", "-q", "a.txt")
    _git(repo, "commit", "-qm", "Remove a", "--author", "Doe, John <jd@example.com>")
    return _git(repo, "format-patch", "--stdout", "HEAD~3")


@needs_git
def test_parse_mbox(mbox: bytes) -> None:
    assert b"\n =?UTF-8?q?" in mbox  # the non-ASCII subject really is folded
    commits = parse_mbox(mbox)
    assert [len(c.sha or "") for c in commits] == [40, 40, 40]
    first, second, third = commits
    assert first.author == "Jörg Müller <jm@example.com>"
    assert first.subject == (
        "Bump the registry image to a release whose subject is long enough to be folded in the mail"
    )
    assert first.date == "Tue, 2 Jan 2024 03:04:05 +0000"
    assert [(f.old_path, f.new_path, f.added) for f in first.files] == [(None, "a.txt", 1)]
    assert second.author == "Test Author <author@example.com>"
    assert second.subject == "Ünïcode subject for the café image, long enough that git folds the encoded words"
    assert [line.text for line in second.files[0].hunks[0].lines] == [
        f"From {SHA} Mon Sep 17 00:00:00 2001",
        "-- ",
        "2.39.5",
    ]
    assert third.author == "Doe, John <jd@example.com>"
    assert (third.subject, third.files[0].old_path, third.files[0].new_path) == ("Remove a", "a.txt", None)


def test_parse_mbox_inline_and_errors() -> None:
    mbox = (
        f"From {SHA} Mon Sep 17 00:00:00 2001\n"
        "From: =?UTF-8?q?Ren=C3=A9?= <rene@example.com>\n"
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
        "Subject: [PATCH v2 1/1] Use the\n release image\n"
        "\n"
        "Text that mentions diff --git a/f b/f is not a diff.\n"
        "---\n"
        " f | 2 +-\n"
        "\n"
        "diff --git a/f b/f\n"
        "--- a/f\n"
        "+++ b/f\n"
        "@@ -1 +1 @@\n"
        "-old\n"
        "+new\n"
        "-- \n"
        "2.43.0\n"
        "\n"
    ).encode()
    (commit,) = parse_mbox(mbox)
    assert commit == Commit(
        sha=SHA,
        author="René <rene@example.com>",
        date="Mon, 1 Jan 2024 00:00:00 +0000",
        subject="Use the release image",
        files=parse_diff(b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-old\n+new\n"),
    )
    with pytest.raises(DiffError):
        parse_mbox(b"From someone else\nSubject: hi\n\nbody\n")


# --------------------------------------------------------------------------- plain diffs


def test_plain_diff_u(tmp_path: Path) -> None:
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("a\nb\nc\n")
    new.write_text("a\nB\nc\nd\n")
    result = subprocess.run(["diff", "-u", str(old), str(new)], capture_output=True, check=False)
    assert result.returncode == 1
    (diff,) = parse_diff(result.stdout)
    assert (diff.old_path, diff.new_path) == (str(old), str(new))  # no a/ b/ convention: kept
    assert lines_of(diff) == [
        (" ", "a", 1, 1),
        ("-", "b", 2, None),
        ("+", "B", None, 2),
        (" ", "c", 3, 3),
        ("+", "d", None, 4),
    ]
    assert (diff.added, diff.removed) == (2, 1)


def test_plain_recursive_diff(tmp_path: Path) -> None:
    for side, text in (("a", b"1\n2\n"), ("b", b"1\ntwo\n")):
        (tmp_path / side).mkdir()
        (tmp_path / side / "x.txt").write_bytes(text)
        (tmp_path / side / "img.bin").write_bytes(b"\0" + side.encode())
    (tmp_path / "b" / "only.txt").write_bytes(b"new\n")
    result = subprocess.run(["diff", "-ru", "a", "b"], cwd=tmp_path, capture_output=True, check=False)
    assert b"Only in b: only.txt" in result.stdout
    files = by_path(parse_diff(result.stdout))
    assert set(files) == {"img.bin", "x.txt"}
    assert files["img.bin"].binary
    assert lines_of(files["x.txt"]) == [(" ", "1", 1, 1), ("-", "2", 2, None), ("+", "two", None, 2)]


def test_plain_paths_strip_a_b_only_when_both_sides_use_them() -> None:
    diff = b"--- a/x\t2024-01-01 00:00:00\n+++ b/x\t2024-01-01 00:00:01\n@@ -1 +1 @@\n-1\n+2\n"
    assert [(f.old_path, f.new_path) for f in parse_diff(diff)] == [("x", "x")]
    diff = b"--- a/x\n+++ new/x\n@@ -1 +1 @@\n-1\n+2\n"
    assert [(f.old_path, f.new_path) for f in parse_diff(diff)] == [("a/x", "new/x")]
    diff = b"--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+1\n"
    assert [(f.old_path, f.new_path) for f in parse_diff(diff)] == [(None, "x")]


def test_header_lookalike_lines_inside_hunks() -> None:
    hunk = b"@@ -1,3 +1,3 @@ func()\n a\n--- x\n+++ x\n b\n"
    second = b"--- a/g\n+++ b/g\n@@ -1 +1 @@\n-old\n+new\n"
    for head in (b"--- a/f\n+++ b/f\n", b"diff --git a/f b/f\nindex 1..2 100644\n--- a/f\n+++ b/f\n"):
        data = head + hunk + (second if head.startswith(b"---") else b"diff --git a/g b/g\n" + second)
        f, g = parse_diff(data)
        assert lines_of(f) == [(" ", "a", 1, 1), ("-", "-- x", 2, None), ("+", "++ x", None, 2), (" ", "b", 3, 3)]
        assert f.hunks[0].section == "func()"
        assert lines_of(g) == [("-", "old", 1, None), ("+", "new", None, 1)]
        light = parse_diff(data, reject_all)
        assert [(x.path, x.added, x.removed, x.filtered) for x in light] == [("f", 1, 1, True), ("g", 1, 1, True)]


def test_omitted_hunk_counts_mean_one() -> None:
    (diff,) = parse_diff(b"--- a/f\n+++ b/f\n@@ -3 +3 @@\n-x\n+y\n")
    (hunk,) = diff.hunks
    assert (hunk.old_start, hunk.old_len, hunk.new_start, hunk.new_len, hunk.section) == (3, 1, 3, 1, "")
    assert lines_of(diff) == [("-", "x", 3, None), ("+", "y", None, 3)]


def test_multiple_hunks_and_no_newline_marker() -> None:
    data = (
        b"diff --git a/f b/f\n--- a/f\n+++ b/f\n"
        b"@@ -1,2 +1,2 @@\n a\n-b\n+B\n"
        b"@@ -10,2 +10,2 @@ tail\n x\n-y\n\\ No newline at end of file\n+z\n\\ No newline at end of file\n"
    )
    (diff,) = parse_diff(data)
    assert [len(h.lines) for h in diff.hunks] == [3, 3]
    assert lines_of(diff)[3:] == [(" ", "x", 10, 10), ("-", "y", 11, None), ("+", "z", None, 11)]
    assert [(d.path, line.kind, line.text) for d, _, line in iter_changed_lines([diff])] == [
        ("f", "-", "b"),
        ("f", "+", "B"),
        ("f", "-", "y"),
        ("f", "+", "z"),
    ]


def test_damaged_context_and_trailing_junk() -> None:
    # An empty line stands for a context line whose space was stripped; the mail signature after
    # the hunk is not part of it.
    data = b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n-- \n2.39.5\n\n"
    (diff,) = parse_diff(data)
    assert lines_of(diff) == [(" ", "a", 1, 1), (" ", "", 2, 2), ("-", "b", 3, None), ("+", "c", None, 3)]
    (light,) = parse_diff(data, reject_all)
    assert (light.added, light.removed) == (1, 1)


def test_quoted_git_paths_and_mnemonic_prefixes() -> None:
    data = (
        b'diff --git "a/with space\\t.txt" "b/caf\\303\\251 \\"q\\".txt"\n'
        b"similarity index 90%\n"
        b'rename from "with space\\t.txt"\n'
        b'rename to "caf\\303\\251 \\"q\\".txt"\n'
        b"diff --git i/x w/x\nindex 1..2 100644\n--- i/x\n+++ w/x\n@@ -1 +1 @@\n-1\n+2\n"
    )
    renamed, mnemonic = parse_diff(data)
    assert (renamed.old_path, renamed.new_path) == ("with space\t.txt", 'café "q".txt')
    assert (mnemonic.old_path, mnemonic.new_path) == ("x", "x")


def test_crlf_diff_and_invalid_utf8() -> None:
    data = b"--- a/f\r\n+++ b/f\r\n@@ -1,2 +1,2 @@ s\r\n k\r\n-\xff\xfe\r\n+ok\r\n"
    (diff,) = parse_diff(data)
    assert diff.hunks[0].section == "s"
    assert lines_of(diff) == [(" ", "k", 1, 1), ("-", "\ufffd\ufffd", 2, None), ("+", "ok", None, 2)]


def test_empty_and_non_diff_input() -> None:
    assert parse_diff(b"") == []
    assert parse_diff(b"\n  \n") == []
    with pytest.raises(DiffError) as err:
        parse_diff(b"hello world")
    assert "\n" not in str(err.value)


def test_rejected_sections_are_never_split_into_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("a rejected section was decoded")

    monkeypatch.setattr(diffs, "_build_hunk", fail)
    data = b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n" * 3
    files = parse_diff(data, reject_all)
    assert [(f.added, f.removed, f.filtered) for f in files] == [(1, 1, True)] * 3


# --------------------------------------------------------------------------- generated diffs

TRICKY_LINES = ["x", "y", "", " ", "-- x", "++ y", "--- a/f", "+++ b/f", "@@ -1 +1 @@", "diff --git a/q b/q", "\\ n"]


@settings(max_examples=150, deadline=None)
@given(
    old=st.lists(st.sampled_from(TRICKY_LINES), max_size=25),
    new=st.lists(st.sampled_from(TRICKY_LINES), max_size=25),
    git=st.booleans(),
)
def test_generated_diffs_round_trip(old: list[str], new: list[str], git: bool) -> None:
    def section(name: str) -> str:
        head = f"diff --git a/{name} b/{name}\n" if git else ""
        old_lines, new_lines = [f"{t}\n" for t in old], [f"{t}\n" for t in new]
        return head + "".join(difflib.unified_diff(old_lines, new_lines, f"a/{name}", f"b/{name}"))

    if old == new:
        return
    data = (section("f") + section("g")).encode()
    files = parse_diff(data)
    assert [f.path for f in files] == ["f", "g"]
    for diff in files:
        for line in (line for hunk in diff.hunks for line in hunk.lines):
            if line.old_no is not None:
                assert old[line.old_no - 1] == line.text
            if line.new_no is not None:
                assert new[line.new_no - 1] == line.text
        added = sum(1 for line in lines_of(diff) if line[0] == "+")
        removed = sum(1 for line in lines_of(diff) if line[0] == "-")
        assert (diff.added, diff.removed) == (added, removed)
        assert len(new) - len(old) == added - removed
    light = parse_diff(data, reject_all)
    assert [(f.path, f.added, f.removed) for f in light] == [(f.path, f.added, f.removed) for f in files]
