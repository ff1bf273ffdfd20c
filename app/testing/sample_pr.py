"""The bundled sample pull request (app/data/sample-pr): the etcd-manager staging case.

``load_sample()`` reads it; ``SamplePull.push()`` makes the next push of it (one more commit that
switches the image again), so the sandbox and the tests can show a review across pushes;
``SamplePull.fixture()`` is the pull request in the fake GitHub's fixture format.

The sample's commits only switch image lines in place, so the pull request's diff is each file's
first hunk shape with the newest added lines: that is how the combined diff is built here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import yaml

SAMPLE_DIR = "data/sample-pr"
STAGING_IMAGE = "gcr.io/k8s-staging-etcdadm/etcd-manager"
RELEASE_IMAGE = "registry.k8s.io/etcdadm/etcd-manager"

_SECTION_START = re.compile(r"(?m)^(?=diff --git )")
_PATH = re.compile(r"^diff --git a/(\S+) b/(\S+)$")


@dataclass(frozen=True)
class SampleCommit:
    sha: str
    message: str
    author_name: str
    author_email: str
    date: str
    diff: str

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]


@dataclass(frozen=True)
class SamplePull:
    repo: str
    number: int
    title: str
    body: str
    user: str
    head_ref: str
    base_ref: str
    base_sha: str
    commits: tuple[SampleCommit, ...]

    @property
    def head_sha(self) -> str:
        return self.commits[-1].sha

    def diff(self) -> str:
        """The pull request's diff: base to head, file by file."""
        sections: dict[str, list[str]] = {}
        for commit in self.commits:
            for path, section in _sections(commit.diff):
                sections.setdefault(path, []).append(section)
        out = [_combine(parts) for parts in sections.values()]
        return "".join(s for s in out if s)

    def fixture(self, labels: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
        """The pull request in the fake GitHub's fixture format (``FakeGitHub.load_pull``)."""
        return {
            "number": self.number,
            "title": self.title,
            "body": self.body,
            "user": self.user,
            "head": {"sha": self.head_sha, "ref": self.head_ref},
            "base": {"sha": self.base_sha, "ref": self.base_ref},
            "labels": list(labels),
            "diff": self.diff(),
            "commits": [
                {
                    "sha": c.sha,
                    "message": c.message,
                    "author": self.user,
                    "author_name": c.author_name,
                    "author_email": c.author_email,
                    "date": c.date,
                    "diff": c.diff,
                }
                for c in self.commits
            ],
        }

    def at(self, repo: str, number: int | None = None) -> SamplePull:
        """The same pull request in another repository (tests use their fake's account)."""
        return replace(self, repo=repo, number=self.number if number is None else number)

    def push(self, old: str, new: str, message: str, *, date: str = "2022-05-03T09:12:00Z") -> SamplePull:
        """The next push: one more commit replacing ``old`` with ``new`` on every line added so far."""
        sections = []
        for path, section in _sections(self.diff()):
            header, body = _split(section)
            added = [line for line in body if line.startswith("+") and old in line]
            if not added:
                continue
            lines = []
            for line in body:
                if line.startswith("+") and old in line:
                    lines += ["-" + line[1:], "+" + line[1:].replace(old, new)]
                elif line.startswith("-"):
                    continue  # the base's line: gone from the head already
                elif line.startswith("+"):
                    lines.append(" " + line[1:])  # added earlier, unchanged now: context
                else:
                    lines.append(line)
            sections.append(_with_index(header, path, lines))
        if not sections:
            raise ValueError(f"no line of the sample pull request adds {old!r}")
        diff = "".join(sections)
        last = self.commits[-1]
        commit = SampleCommit(
            sha=_sha(last.sha, message, diff),
            message=message,
            author_name=last.author_name,
            author_email=last.author_email,
            date=date,
            diff=diff,
        )
        return replace(self, commits=(*self.commits, commit))


def load_sample() -> SamplePull:
    root = resources.files("app").joinpath(SAMPLE_DIR)
    meta: dict[str, Any] = yaml.safe_load(root.joinpath("pull.yaml").read_text(encoding="utf-8"))
    commits: list[SampleCommit] = []
    parent = str(meta["base_sha"])
    for item in meta["commits"]:
        diff = root.joinpath(item["diff"]).read_text(encoding="utf-8")
        message = str(item["message"]).rstrip("\n")
        sha = _sha(parent, message, diff)
        commits.append(
            SampleCommit(sha, message, str(item["author_name"]), str(item["author_email"]), str(item["date"]), diff)
        )
        parent = sha
    return SamplePull(
        repo=str(meta["repo"]),
        number=int(meta["number"]),
        title=str(meta["title"]),
        body=str(meta.get("body") or ""),
        user=str(meta["user"]),
        head_ref=str(meta["head_ref"]),
        base_ref=str(meta["base_ref"]),
        base_sha=str(meta["base_sha"]),
        commits=tuple(commits),
    )


def _sha(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode("utf-8")).hexdigest()


def _sections(diff: str) -> list[tuple[str, str]]:
    out = []
    for section in _SECTION_START.split(diff):
        if not section.startswith("diff --git "):
            continue
        match = _PATH.match(section.split("\n", 1)[0])
        out.append((match.group(2) if match else section.split("\n", 1)[0], section))
    return out


def _split(section: str) -> tuple[list[str], list[str]]:
    """(header lines up to +++, hunk lines)."""
    lines = section.rstrip("\n").split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("@@"))
    return lines[:at], lines[at:]


def _combine(parts: list[str]) -> str:
    """One file's sections from successive commits as a single base-to-head section."""
    header, body = _split(parts[0])
    newest = [line for line in _split(parts[-1])[1] if line.startswith("+")]
    added = iter(newest)
    if sum(1 for line in body if line.startswith("+")) != len(newest):
        raise ValueError("the sample's commits must switch the same lines in place")
    merged = [next(added) if line.startswith("+") else line for line in body]
    removed = [line[1:] for line in merged if line.startswith("-")]
    if removed == [line[1:] for line in merged if line.startswith("+")]:
        return ""  # switched back: the file is unchanged from the base
    path = _PATH.match(header[0])
    return _with_index(header, path.group(2) if path else "", merged)


def _with_index(header: list[str], path: str, body: list[str]) -> str:
    """A section with an index line matching its content (as git would write one)."""
    old = "\n".join(line[1:] for line in body if not line.startswith("+"))
    new = "\n".join(line[1:] for line in body if not line.startswith("-"))
    index = f"index {_sha(path, old)[:10]}..{_sha(path, new)[:10]} 100644"
    lines = [index if line.startswith("index ") else line for line in header]
    return "\n".join(lines + body) + "\n"
