"""IR017 staging-in-history: a staging image that only a single commit of the pull request carries."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.models import RefChange
from app.policy.catalog import STAGING_IN_HISTORY, RuleMeta
from app.policy.context import CommitInput, Draft, RuleInput, RuleOutput

RULES: tuple[RuleMeta, ...] = (STAGING_IN_HISTORY,)


def check(inp: RuleInput) -> RuleOutput:
    out = RuleOutput()
    if not inp.commits or len(inp.commits) < 2:
        return out
    shipped = {(r.path, r.normalized()) for r in inp.refs if r.side == "added"}
    # An image the pull request still ships from staging is IR001's; "the pull request ships no
    # staging image" would be false, and a cherry-pick of the first commit ships what the PR ships.
    still_staging = {_image(r) for r in inp.refs if _staging_in_production(inp, r)}
    for i, commit in enumerate(inp.commits):
        for ref in commit.refs:
            key = (ref.path, ref.normalized())
            if not _staging_in_production(inp, ref) or key in shipped or _image(ref) in still_staging:
                continue
            remover = _removed_later(inp.commits[i + 1 :], key)
            if remover is not None:
                out.drafts.append(_finding(commit, remover, ref))
                shipped.add(key)  # one finding per reference and path
    return out


def _staging_in_production(inp: RuleInput, ref: RefChange) -> bool:
    return (ref.side == "added" and not ref.in_comment and not ref.partial and inp.ref_class(ref) == "staging"
            and inp.policy.is_production(ref.path) and not inp.policy.is_generated(ref.path))


def _image(ref: RefChange) -> tuple[str | None, str | None]:
    return ref.registry, ref.repository


def _removed_later(commits: Sequence[CommitInput], key: tuple[str, str]) -> CommitInput | None:
    for commit in commits:
        if any(r.side == "removed" and (r.path, r.normalized()) == key for r in commit.refs):
            return commit
    return None


def _finding(adder: CommitInput, remover: CommitInput, ref: RefChange) -> Draft:
    message = (
        f"Commit {_short(adder)} adds the staging image `{ref.reference}` and commit {_short(remover)} removes it "
        "again. The pull request as a whole ships no staging image, but cherry-picking or reverting "
        f"{_short(adder)} alone would: squash the two, or cherry-pick them together."
    )
    return Draft(STAGING_IN_HISTORY, ref.path, None, message, ref.normalized(), commit=adder.sha, production=True)


def _short(commit: CommitInput) -> str:
    return f"`{(commit.sha or '?')[:12]}` ({commit.subject})" if commit.subject else f"`{(commit.sha or '?')[:12]}`"
