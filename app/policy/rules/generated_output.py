"""IR021 staging-generated-output: production output gains a staging image through generated files.

IR001 judges hand-written lines; generated files are skipped because the finding belongs on the
source they come from. But a change can make production select a staging image without writing
it: deleting ``case 24:`` lets Kubernetes 1.24 fall through to a ``default:`` that already names
``gcr.io/k8s-staging-...:latest``, and only the regenerated expected output shows the new image.
Such a pull request must not pass clean.

A staging reference counts when it is added in a generated file that existed before (a new expected
output file of a new test shows what the code already did), not removed anywhere in the pull
request (it was not in the output before), and no hand-written line adds the same image (IR001
already speaks for production lines; a test that picks it on purpose is its own source).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from app.core.diffs import FileDiff
from app.core.models import RefChange, Side
from app.policy.catalog import STAGING_IN_GENERATED_OUTPUT, RuleMeta
from app.policy.context import Draft, RuleInput, RuleOutput
from app.policy.images import identity

RULES: tuple[RuleMeta, ...] = (STAGING_IN_GENERATED_OUTPUT,)
_LISTED = 3


@dataclass(frozen=True, slots=True)
class Anchor:
    path: str
    line: int
    side: Side
    how: str  # how the anchor relates to the image, for the message


def check(inp: RuleInput) -> RuleOutput:
    out = RuleOutput()
    removed = {r.normalized() for r in inp.refs if r.side == "removed"}
    # Output files the pull request creates (a new test case) show what the code already did.
    existing = {f.new_path for f in inp.files if f.old_path is not None and f.new_path is not None}
    written = {identity(inp.policy, r.name) for r in inp.refs
               if r.side == "added" and not inp.policy.is_generated(r.path)}
    groups: dict[str, list[RefChange]] = {}
    for ref in inp.refs:
        if ref.path in existing and _appears(inp, ref, removed, written):
            groups.setdefault(ref.normalized(), []).append(ref)
    for key, refs in groups.items():
        out.drafts.append(_draft(inp, key, refs))
    return out


def _appears(inp: RuleInput, ref: RefChange, removed: set[str], written: set[str | None]) -> bool:
    return (
        ref.side == "added" and not ref.in_comment and not ref.partial and not ref.templated
        and inp.policy.is_generated(ref.path) and inp.ref_class(ref) == "staging"
        and ref.normalized() not in removed and identity(inp.policy, ref.name) not in written
    )


def _draft(inp: RuleInput, key: str, refs: Sequence[RefChange]) -> Draft:
    first = min(refs, key=lambda r: (r.path, r.line))
    anchor = source_anchor(inp, first) or Anchor(first.path, first.line, "added", "")
    paths = sorted({r.path for r in refs})
    shown = ", ".join(f"`{p}`" for p in paths[:_LISTED]) + (
        f" and {len(paths) - _LISTED} more" if len(paths) > _LISTED else "")
    files = "1 generated file" if len(paths) == 1 else f"{len(paths)} generated files"
    message = (
        f"After this change, {files} of production output hold the staging image `{first.reference}` "
        f"({shown}){anchor.how}. Production must run a promoted release image: select a release version "
        "here, or add a tracked exemption if the staging build is intended."
    )
    return Draft(STAGING_IN_GENERATED_OUTPUT, anchor.path, anchor.line, message, key, side=anchor.side,
                 commit=first.commit)


def source_anchor(inp: RuleInput, ref: RefChange) -> Anchor | None:
    """The hand-written line that selects the image: one naming it, else a removed line of that image."""
    name = f"{ref.registry}/{ref.repository}" if ref.registry and ref.repository else ref.reference
    for side, path, number in _lines_naming(inp, name):
        how = "; the source line naming it is here" if side != "removed" else "; it was selected here"
        return Anchor(path, number, "added" if side != "removed" else "removed", how)
    wanted = identity(inp.policy, ref.name)
    for r in inp.refs:
        if r.side == "removed" and not inp.policy.is_generated(r.path) and identity(inp.policy, r.name) == wanted:
            # The selection this change removed (a deleted case): the old choice no longer applies.
            return Anchor(r.path, r.line, "removed", f"; this change removes the selection of `{r.reference}` here")
    return None


def _lines_naming(inp: RuleInput, needle: str) -> Iterator[tuple[str, str, int]]:
    """Hand-written lines of the diff that name ``needle``: added lines first, then context lines."""
    hand: list[FileDiff] = [f for f in inp.files if not inp.policy.is_generated(f.path)]
    for wanted in ("+", " "):
        for f in hand:
            for hunk in f.hunks:
                for line in hunk.lines:
                    if line.kind == wanted and line.new_no is not None and needle in line.text:
                        yield ("added" if wanted == "+" else "context"), f.path, line.new_no
