"""The git object store behind the fake GitHub's git data API: blobs, trees, commits and refs.

Object ids are computed the way git computes them for blobs (``blob <size>\\0<data>``); trees are
kept flat (path → blob) with an id over their sorted entries, which is all the API shows when
trees are read recursively. The rules GitHub enforces are enforced here: an unknown object is
422, creating a ref that exists is 422 "Reference already exists", and a ref update must be a
fast-forward unless forced (422 "Update is not a fast forward").
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

FILE_MODES = ("100644", "100755", "120000")


class GitError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class GitCommit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: str = "octocat"
    email: str = "octocat@users.noreply.github.com"
    date: str = "2024-01-01T00:00:00Z"


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class GitStore:
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)  # tree sha -> path -> blob sha
    commits: dict[str, GitCommit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> commit sha

    # -- objects --------------------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        sha = blob_sha(data)
        self.blobs[sha] = data
        return sha

    def put_tree(self, entries: Mapping[str, str]) -> str:
        listing = "".join(f"100644 {path}\0{sha}\n" for path, sha in sorted(entries.items()))
        sha = hashlib.sha1(b"tree\0" + listing.encode()).hexdigest()
        self.trees[sha] = dict(entries)
        return sha

    def tree(self, sha: str) -> dict[str, str]:
        if sha not in self.trees:
            raise GitError(404, "Not Found")
        return self.trees[sha]

    def create_tree(self, base_tree: str | None, changes: list[dict[str, Any]]) -> str:
        """GitHub's "create a tree": entries on top of ``base_tree``; ``sha: null`` deletes a path."""
        if base_tree and base_tree not in self.trees:
            raise GitError(422, "Invalid tree info: base_tree does not exist")
        entries = dict(self.trees[base_tree]) if base_tree else {}
        for change in changes:
            path = change.get("path")
            if not isinstance(path, str) or not path or path.startswith("/"):
                raise GitError(422, "Invalid tree info: path")
            if change.get("mode") not in FILE_MODES or change.get("type", "blob") != "blob":
                raise GitError(422, "Invalid tree info: only blob entries with a file mode are supported")
            if "content" in change:
                entries[path] = self.put_blob(str(change["content"]).encode("utf-8"))
            elif change.get("sha") is None:
                if entries.pop(path, None) is None:
                    raise GitError(422, f"Invalid tree info: {path} is not in the base tree")
            elif change["sha"] in self.blobs:
                entries[path] = change["sha"]
            else:
                raise GitError(422, "Invalid tree info: sha is not a blob")
        return self.put_tree(entries)

    def create_commit(self, message: str, tree: str, parents: list[str], author: str = "image-review[bot]",
                      date: str = "2024-01-01T00:00:00Z") -> str:
        if not message:
            raise GitError(422, "Invalid request.\n\n\"message\" wasn't supplied.")
        if tree not in self.trees:
            raise GitError(422, "Tree SHA does not exist")
        missing = [p for p in parents if p not in self.commits]
        if missing:
            raise GitError(422, "Parent SHA does not exist or is not a commit object")
        text = f"tree {tree}\n" + "".join(f"parent {p}\n" for p in parents) + f"author {author} {date}\n\n{message}"
        sha = hashlib.sha1(b"commit\0" + text.encode()).hexdigest()
        self.commits[sha] = GitCommit(sha, tree, tuple(parents), message, author, date=date)
        return sha

    def commit(self, sha: str) -> GitCommit:
        if sha not in self.commits:
            raise GitError(404, "Not Found")
        return self.commits[sha]

    # -- refs -----------------------------------------------------------------------------------

    @staticmethod
    def ref_name(ref: str) -> str:
        """``refs/heads/x`` or ``heads/x`` → ``heads/x``; anything else is 422 as on GitHub."""
        name = ref.removeprefix("refs/")
        if not name.startswith(("heads/", "tags/")) or name.endswith("/") or "//" in name or ".." in name:
            raise GitError(422, "Reference name is not valid")
        return name

    def create_ref(self, ref: str, sha: str) -> str:
        name = self.ref_name(ref)
        if name in self.refs:
            raise GitError(422, "Reference already exists")
        if sha not in self.commits:
            raise GitError(422, "Object does not exist")
        self.refs[name] = sha
        return name

    def update_ref(self, ref: str, sha: str, *, force: bool = False) -> str:
        name = self.ref_name(ref)
        if name not in self.refs:
            raise GitError(422, "Reference does not exist")
        if sha not in self.commits:
            raise GitError(422, "Object does not exist")
        if not force and not self.is_ancestor(self.refs[name], sha):
            raise GitError(422, "Update is not a fast forward")
        self.refs[name] = sha
        return name

    def delete_ref(self, ref: str) -> None:
        name = self.ref_name(ref)
        if self.refs.pop(name, None) is None:
            raise GitError(422, "Reference does not exist")

    # -- history --------------------------------------------------------------------------------

    def ancestors(self, sha: str) -> Iterator[str]:
        """``sha`` and every commit it descends from, newest first (breadth first)."""
        seen: set[str] = set()
        queue = [sha]
        while queue:
            current = queue.pop(0)
            if current in seen or current not in self.commits:
                continue
            seen.add(current)
            yield current
            queue.extend(self.commits[current].parents)

    def is_ancestor(self, old: str, new: str) -> bool:
        return old in set(self.ancestors(new))

    def commits_between(self, base: str, head: str) -> list[GitCommit]:
        """The commits of ``head`` not in ``base``, oldest first (what a pull request lists)."""
        reachable = set(self.ancestors(base))
        return [self.commits[s] for s in reversed(list(self.ancestors(head))) if s not in reachable]

    def files(self, commit_sha: str) -> dict[str, str]:
        tree = self.tree(self.commit(commit_sha).tree)
        return {path: self.blobs[sha].decode("utf-8", "replace") for path, sha in tree.items()}


def tree_diff(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """A git-style unified diff between two file maps (path → text)."""
    out: list[str] = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        old_id = blob_sha(old.encode())[:10] if old is not None else "0" * 10
        new_id = blob_sha(new.encode())[:10] if new is not None else "0" * 10
        out.append(f"diff --git a/{path} b/{path}\n")
        if old is None:
            out.append("new file mode 100644\n")
        elif new is None:
            out.append("deleted file mode 100644\n")
        out.append(f"index {old_id}..{new_id}" + (" 100644\n" if old is not None and new is not None else "\n"))
        lines = difflib.unified_diff((old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True),
                                     f"a/{path}" if old is not None else "/dev/null",
                                     f"b/{path}" if new is not None else "/dev/null")
        out.extend(line if line.endswith("\n") else line + "\n" for line in lines)
    return "".join(out)
