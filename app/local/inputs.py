"""Read what the CLI is asked to look at: a unified diff, a format-patch mailbox, or a git range."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from app.core.diffs import Commit, DiffError, FileDiff, parse_diff, parse_diff_file, parse_mbox
from app.core.extract import FileReader
from app.core.models import Side
from app.core.prefilter import ImagePrefilter


class InputError(Exception):
    """A problem with what the user gave us, worded for them (exit code 2)."""


@dataclass(slots=True)
class ChangeInput:
    """The files of the whole change, and its commits when the input has them."""

    files: list[FileDiff]
    commits: list[Commit] | None
    reader: FileReader | None = None
    # For git mode: reads a file at a given revision (commit-level split fields).
    git: GitRepo | None = None
    base: str | None = None
    head: str | None = None
    source: str = ""


prefilter = ImagePrefilter()


def read_bytes(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def from_diff(path: str, *, references_only: bool = False, window: tuple[int, int] | None = None) -> ChangeInput:
    """A diff file (or - for stdin); references_only leaves out files without a candidate, counts and all.

    `window` reads only part of a file (see app.core.diffs.section_cut).
    """
    keep = not references_only
    try:
        if path == "-":
            return ChangeInput(parse_diff(read_bytes(path), prefilter, keep_filtered=keep), None, source=path)
        # A file is mapped rather than read, so a big diff never sits in memory whole.
        return ChangeInput(parse_diff_file(path, prefilter, keep_filtered=keep, window=window), None, source=path)
    except DiffError as exc:
        raise InputError(f"{path}: {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def from_patches(path: str) -> ChangeInput:
    data = read_bytes(path)
    try:
        commits = parse_mbox(data)
    except DiffError as exc:
        raise InputError(f"{path}: {exc}") from None
    return ChangeInput([f for c in commits for f in c.files], commits, source=path)


class GitRepo:
    """The few git commands we need, run without a shell and without touching the work tree."""

    def __init__(self, root: str) -> None:
        self.root = root

    def run(self, *args: str) -> bytes:
        try:
            proc = subprocess.run(["git", "-C", self.root, *args], capture_output=True, check=False)
        except FileNotFoundError:
            raise InputError("git is not installed or not on PATH") from None
        if proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise InputError(f"git {args[0]} failed: {message[-1] if message else 'exit ' + str(proc.returncode)}")
        return proc.stdout

    def show(self, rev: str, path: str) -> str | None:
        try:
            return self.run("show", f"{rev}:{path}").decode("utf-8", "replace")
        except InputError:
            return None

    def resolve(self, rev: str) -> str:
        return self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()

    def reader(self, old_rev: str, new_rev: str) -> FileReader:
        def read(path: str, side: Side) -> str | None:
            return self.show(new_rev if side == "added" else old_rev, path)

        return read


def split_range(spec: str) -> tuple[str, str]:
    """``A..B`` / ``A...B`` (both mean: the commits of B not in A) or ``A`` (A..HEAD)."""
    for sep in ("...", ".."):
        if sep in spec:
            base, head = spec.split(sep, 1)
            return base or "HEAD", head or "HEAD"
    return spec, "HEAD"


def from_git(spec: str, repo_dir: str) -> ChangeInput:
    if not Path(repo_dir).is_dir():
        raise InputError(f"--repo {repo_dir}: no such directory")
    git = GitRepo(repo_dir)
    base_spec, head_spec = split_range(spec)
    try:
        base, head = git.resolve(base_spec), git.resolve(head_spec)
    except InputError:
        raise InputError(f"bad range {spec!r}: not a commit range in {repo_dir}") from None
    merge_base = git.run("merge-base", base, head).decode().strip() or base
    diff = git.run("diff", "--no-color", "--no-ext-diff", "-M", "--src-prefix=a/", "--dst-prefix=b/", merge_base, head)
    mbox = git.run("format-patch", "--stdout", "--no-color", "--no-signature", "-M", "--no-stat",
                   f"{merge_base}..{head}")
    try:
        files = parse_diff(diff, prefilter=prefilter)
        commits = parse_mbox(mbox) if mbox.strip() else []
    except DiffError as exc:
        raise InputError(f"git output could not be read: {exc}") from None
    return ChangeInput(files, commits, git.reader(merge_base, head), git, merge_base, head, source=spec)
