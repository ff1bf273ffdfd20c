"""The git data API (refs, commits, trees) and repository archives, for commits the App makes itself.

A commit is written as GitHub documents it: a tree on top of the parent's tree (file contents
inline), a commit with that tree and parent, then the branch ref created or moved. Moving a ref
is never forced: GitHub refuses an update that is not a fast-forward, which is what keeps the App
from overwriting commits someone else pushed.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from app.github.client import RawClient

MAX_ARCHIVE_BYTES = 200 * 1024 * 1024  # a repository archive larger than this is not read


@dataclass(frozen=True, slots=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: str


class ArchiveTooLarge(Exception):
    pass


class GitData:
    """One repository's git data API through a ``RawClient`` (its retries, counter and token)."""

    def __init__(self, raw: RawClient, repo: str) -> None:
        self.raw = raw
        self.repo = repo

    def _path(self, tail: str) -> str:
        return f"/repos/{self.repo}/{tail}"

    def branch_head(self, branch: str) -> str | None:
        """The commit a branch points at; None when there is no such branch."""
        response = self.raw.request("GET", self._path(f"git/ref/heads/{quote(branch, safe='/')}"),
                                    expect=(200, 404))
        if response.status_code == 404:
            return None
        data: dict[str, Any] = response.json()
        return str(data["object"]["sha"])

    def commit(self, sha: str) -> CommitInfo:
        data = self.raw.request("GET", self._path(f"git/commits/{sha}")).json()
        return CommitInfo(data["sha"], data["tree"]["sha"], tuple(p["sha"] for p in data["parents"]),
                          data["message"], data["author"]["name"])

    def write_commit(self, parent: str, files: Mapping[str, str], message: str) -> str:
        """A commit on top of ``parent`` changing ``files`` (path → new text); returns its sha."""
        base_tree = self.commit(parent).tree
        entries = [{"path": p, "mode": "100644", "type": "blob", "content": t} for p, t in sorted(files.items())]
        tree = self.raw.request("POST", self._path("git/trees"), json={"base_tree": base_tree, "tree": entries})
        created = self.raw.request("POST", self._path("git/commits"),
                                   json={"message": message, "tree": tree.json()["sha"], "parents": [parent]})
        return str(created.json()["sha"])

    def create_branch(self, branch: str, sha: str) -> None:
        self.raw.request("POST", self._path("git/refs"), json={"ref": f"refs/heads/{branch}", "sha": sha})

    def move_branch(self, branch: str, sha: str) -> None:
        """Fast-forward only: GitHub answers 422 when ``sha`` does not descend from the branch head."""
        self.raw.request("PATCH", self._path(f"git/refs/heads/{quote(branch, safe='/')}"),
                         json={"sha": sha, "force": False})

    def delete_branch(self, branch: str) -> None:
        self.raw.request("DELETE", self._path(f"git/refs/heads/{quote(branch, safe='/')}"), expect=(204, 422))

    def files_at(self, ref: str) -> Iterator[tuple[str, bytes]]:
        """(path, content) of every file at ``ref``, from one archive download (one API call)."""
        response = self.raw.request("GET", self._path(f"tarball/{quote(ref, safe='')}"), stream=True)
        data = response.raw.read(MAX_ARCHIVE_BYTES + 1, decode_content=True)
        if len(data) > MAX_ARCHIVE_BYTES:
            raise ArchiveTooLarge(f"the archive of {self.repo}@{ref} is over {MAX_ARCHIVE_BYTES} bytes")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                # The archive puts everything under one "<owner>-<repo>-<sha>/" directory.
                yield member.name.split("/", 1)[1], handle.read()
