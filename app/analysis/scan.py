"""Find the image references of a change: the whole diff, or commit by commit."""

from __future__ import annotations

from app.core.classify import Classifier, default_classifier
from app.core.diffs import Commit, parse_diff
from app.core.extract import FileReader, extract
from app.core.models import RefChange
from app.local.inputs import ChangeInput, GitRepo, prefilter


def scan_diff(data: bytes, classifier: Classifier | None = None) -> list[RefChange]:
    """References on the added and removed lines of one unified diff."""
    return extract(parse_diff(data, prefilter=prefilter), classifier)


def commit_reader(git: GitRepo | None, commit: Commit) -> FileReader | None:
    if git is None or not commit.sha:
        return None
    return git.reader(f"{commit.sha}^", commit.sha)


def scan_commits(commits: list[Commit], classifier: Classifier, git: GitRepo | None = None) -> list[list[RefChange]]:
    return [extract(c.files, classifier, commit_reader(git, c), c.sha) for c in commits]


def scan_change(change: ChangeInput, classifier: Classifier | None = None) -> list[RefChange]:
    """Per commit when the input has commits (each reference names its commit), else the whole diff."""
    classifier = classifier or default_classifier()
    if change.commits is not None:
        return [r for refs in scan_commits(change.commits, classifier, change.git) for r in refs]
    return extract(change.files, classifier, change.reader)
