"""The two-step change pattern: IR010 mixed-image-commit, IR011 image-switch-order, and the PR verdict.

Each commit's changed lines are sorted into:

* image lines: lines holding an image reference (or a field of a split reference);
* generated lines: any line in a ``generated_paths`` file (counted whatever it holds);
* neutral lines: blank or comment-only lines without a reference (ignored);
* other lines: everything else.

A commit is ``image-switch`` when it has image lines (in any file) and no other lines, ``mixed``
when it has both, ``config`` when it changes only other or generated lines, ``none`` when empty.
In ``CommitSummary``, ``image_lines`` counts image lines outside generated files (the commit's own
image switch); image lines inside generated files are part of ``generated_lines``.

Only switches in the policy's ``two_step`` scope make IR010/IR011 findings (``switch_scope``); the
verdict describes the commit sequence whatever the scope (the corpus labels do too), and a ``mixed``
verdict whose switches are all out of scope gets a summary note saying the order was not judged.

The PR verdict (the corpus "two_step" labels):

* ``n/a``: no image reference changes, in the PR or in any commit;
* ``single-commit``: one commit (or a plain diff) whose other lines are all generated or neutral;
* ``image-only-first``: several commits, and the first commit that changes anything is an
  ``image-switch``;
* ``mixed``: anything else, including an image switch that comes after configuration commits
  (the corpus labels those ``mixed``: the switch must come first).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from app.core.diffs import FileDiff
from app.core.filekinds import file_kind
from app.core.models import ChangePattern, CommitKind, CommitSummary, RefChange
from app.policy.catalog import IMAGE_SWITCH_ORDER, MIXED_IMAGE_COMMIT, RuleMeta
from app.policy.context import CommitInput, Draft, RuleInput, RuleOutput
from app.policy.images import critical_patterns
from app.policy.rules.change_lines import (
    belongs_to_change,
    changed_lines,
    image_words,
    is_regenerated_subject,
    moved,
    near,
    other_halves,
    version_tokens,
)
from app.policy.rules.switch_scope import judged_switch

RULES: tuple[RuleMeta, ...] = (MIXED_IMAGE_COMMIT, IMAGE_SWITCH_ORDER)
_LISTED = 3  # files (or commits) named in a message before "and N more"


@dataclass(slots=True)
class CommitAnalysis:
    summary: CommitSummary
    commit: CommitInput
    # References the commit changes outside generated files: added in a production file that existed
    # before. Only these make an image switch (a new file or a deleted case branch switches nothing;
    # images of tests, CI and tooling are not released, so their commits need no two-step order).
    # Only switches in the policy's ``two_step`` scope are kept (see ``switch_scope``).
    source_refs: list[RefChange] = field(default_factory=list)
    # Switches the policy's ``two_step`` scope leaves alone (a release bump under ``staging``).
    unjudged_refs: list[RefChange] = field(default_factory=list)
    # Other (unrelated) changed lines per file, in order of appearance.
    other_by_file: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class PatternResult:
    commits: list[CommitSummary]
    change_pattern: ChangePattern
    output: RuleOutput


def classify_commit(commit: CommitInput, inp: RuleInput) -> CommitAnalysis:
    policy = inp.policy
    image_keys: dict[tuple[str, str, int], RefChange] = {}
    for ref in commit.refs:
        for ref_line in (ref.line, *ref.lines):
            image_keys.setdefault((ref.side, ref.path, ref_line), ref)
    summary = CommitSummary(commit.sha, commit.subject, "none")
    result = CommitAnalysis(summary, commit)
    regenerated = _regenerated(commit, inp)
    hand_refs = [r for r in commit.refs if not policy.is_generated(r.path)]
    # What a switch may replace: any hand-written production reference the commit removes (image
    # logic moved from a manifest template into code replaces the template's reference).
    replaced = [r for r in hand_refs if r.side == "removed" and policy.is_production(r.path)]
    versions = version_tokens(hand_refs)
    image_count = 0
    for f in commit.files:
        generated = regenerated or policy.is_generated(f.path)
        if not f.hunks:
            _count_unparsed(f, generated, result)
            continue
        rows = changed_lines(f).lines
        others: dict[str, list[int]] = {}
        reordered = moved(rows)
        image_numbers = {n for side, n, _ in rows if (side, _path(f, side), n) in image_keys}
        words = image_words(text for side, n, text in rows if (side, _path(f, side), n) in image_keys)
        # A reference removed and added again (re-indented, reordered, re-commented) did not change.
        unchanged = {r.normalized() for r in commit.refs if r.side == "removed" and r.path == f.old_path}
        unrelated: list[tuple[str, int, str]] = []
        for side, number, text in rows:
            path = _path(f, side)
            hit = image_keys.get((side, path, number))
            if generated:
                summary.generated_lines += 1
                image_count += hit is not None
            elif hit is not None:
                summary.image_lines += 1
                image_count += 1
                if (_switches(f, side, number, hit, reordered) and hit.normalized() not in unchanged
                        and policy.is_production(path) and hit not in result.source_refs):
                    judged = judged_switch(inp, hit, replaced)
                    (result.source_refs if judged else result.unjudged_refs).append(hit)
            elif (side, number) in reordered or belongs_to_change(
                path, text, versions=versions, near_image=near(image_numbers, number), changes_images=bool(hand_refs),
                words=words,
            ):
                continue
            else:
                unrelated.append((side, number, text))
        for side, number, _ in other_halves(rows, unrelated):
            others.setdefault(side, []).append(number)
        if others:
            _count_other(result, f.path, others)
    summary.kind = _kind(regenerated, image_count, summary.other_lines, summary.generated_lines)
    return result


def _switches(f: FileDiff, side: str, number: int, ref: RefChange, reordered: set[tuple[str, int]]) -> bool:
    """An added, active reference in a file that existed before, on a line that did not just move."""
    return (
        side == "added" and f.old_path is not None and not ref.in_comment and (side, number) not in reordered
        and file_kind(f.path) != "markdown"  # documentation names an image; it does not ship it
    )


def _path(f: FileDiff, side: str) -> str:
    return (f.new_path if side == "added" else f.old_path) or f.path


def _regenerated(commit: CommitInput, inp: RuleInput) -> bool:
    """A commit that only rewrites tool output: named so, or touching generated files alone."""
    if not commit.files:
        return False
    if all(inp.policy.is_generated(f.path) for f in commit.files):
        return True
    return is_regenerated_subject(commit.subject)


def _count_other(result: CommitAnalysis, path: str, others: dict[str, list[int]]) -> None:
    """Count a file's unrelated lines: a replaced line (removed and added halves) counts once."""
    added, removed = others.get("added", []), others.get("removed", [])
    count = max(len(added), len(removed))
    summary = result.summary
    summary.other_lines += count
    # Where to look: the new lines, or the removed ones when the file only lost lines.
    summary.other_locations.extend(f"{path}:{n}" for n in (added or removed))
    result.other_by_file[path] = result.other_by_file.get(path, 0) + count


def _count_unparsed(f: FileDiff, generated: bool, result: CommitAnalysis) -> None:
    """A binary or prefiltered file: its lines are known only as counts, none of them an image line."""
    summary = result.summary
    changed = max(f.added + f.removed, 1 if f.binary or f.old_mode != f.new_mode else 0)
    if not changed:
        return
    if generated:
        summary.generated_lines += changed
        return
    summary.other_lines += changed
    summary.other_locations.append(f.path)
    result.other_by_file[f.path] = result.other_by_file.get(f.path, 0) + changed


def _kind(regenerated: bool, image: int, other: int, generated: int) -> CommitKind:
    if regenerated:
        return "regenerated" if image or other or generated else "none"
    if image:
        return "mixed" if other else "image-switch"
    return "config" if other or generated else "none"


def commits_of(inp: RuleInput) -> tuple[list[CommitInput], bool]:
    """The PR's commits, or the whole diff as one commit when commits are not known."""
    if inp.commits is not None and inp.commits:
        return list(inp.commits), True
    return [CommitInput(None, "(the pull request diff)", inp.files, inp.refs)], False


def analyse(inp: RuleInput) -> PatternResult:
    commits, known = commits_of(inp)
    analyses = [classify_commit(c, inp) for c in commits]
    summaries = [a.summary for a in analyses]
    output = RuleOutput()
    any_refs = bool(inp.refs) or any(c.refs for c in commits)
    if not any_refs:
        return PatternResult(summaries, "n/a", output)
    verdict = verdict_of(summaries)
    note = _unjudged_note(analyses, verdict, inp)
    if note:
        output.notes.append(note)
    for a in analyses:
        if a.summary.kind == "mixed" and a.source_refs and a.other_by_file and not is_revert(a.commit.subject):
            output.drafts.append(_mixed_finding(inp, a))
    if known and len(analyses) > 1:
        order = _order_finding(analyses, inp)
        if order is not None:
            output.drafts.append(order)
    return PatternResult(summaries, verdict, output)


# `git revert` writes this subject; the commit undoes another one as a whole, so it cannot be split
# (the commit it reverts was the place to ask).
_REVERT_SUBJECT = re.compile(r'^Revert "')


def is_revert(subject: str) -> bool:
    return bool(_REVERT_SUBJECT.match(subject))


def _unjudged_note(analyses: Sequence[CommitAnalysis], verdict: ChangePattern, inp: RuleInput) -> str | None:
    """Why a ``mixed`` pull request gets no two-step finding: its switches are outside the scope."""
    if verdict != "mixed" or any(a.source_refs for a in analyses) or not any(a.unjudged_refs for a in analyses):
        return None
    scope = inp.policy.two_step
    why = "the two-step rules are off" if scope == "off" else "no commit switches an image from or to staging"
    return f"Commit order not judged: {why} (`two_step: {scope}`)."


def verdict_of(summaries: Sequence[CommitSummary]) -> ChangePattern:
    """The PR's change pattern from its commit summaries (at least one image change is assumed)."""
    if len(summaries) == 1:
        return "single-commit" if summaries[0].other_lines == 0 else "mixed"
    first = next((s for s in summaries if s.kind != "none"), None)
    if first is not None and first.kind == "image-switch":
        return "image-only-first"
    return "mixed"


def _short(commit: CommitInput) -> str:
    sha = (commit.sha or "")[:12]
    return f'commit {sha} ("{commit.subject}")' if sha else "this change"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _anchor(refs: Sequence[RefChange]) -> RefChange:
    added = [r for r in refs if r.side == "added"]
    return (added or list(refs))[0]


def other_listing(by_file: dict[str, int], total: int) -> str:
    """``N other lines in M files: a (x), b (y) and K more files`` — the counts add up."""
    files = sorted(by_file.items(), key=lambda kv: -kv[1])
    shown = files[:_LISTED]
    parts = [f"{path} ({_lines(count)})" for path, count in shown]
    rest = len(files) - len(shown)
    if rest:
        parts.append(f"{rest} more {'file' if rest == 1 else 'files'} ({_lines(sum(c for _, c in files[_LISTED:]))})")
    where = "in 1 file" if len(files) == 1 else f"in {len(files)} files"
    return f"{_lines(total, 'other line')} {where}: " + _join(parts)


def _lines(count: int, noun: str = "line") -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _mixed_finding(inp: RuleInput, a: CommitAnalysis) -> Draft:
    ref = _anchor(a.source_refs)
    s = a.summary
    critical = any(critical_patterns(inp.policy, r) for r in a.source_refs)
    return Draft(
        MIXED_IMAGE_COMMIT, ref.path, ref.line,
        f"{_sentence(_short(a.commit))} switches `{ref.reference}` and also changes "
        f"{other_listing(a.other_by_file, s.other_lines)}. Keep the image switch in a commit of its own and "
        "move these changes to a follow-up commit (regenerated files may stay with either).",
        ref.normalized(), severity="warning" if critical else None, side=ref.side, commit=a.commit.sha,
    )


def _dirs(paths: Iterable[str]) -> set[str]:
    return {posixpath.dirname(p) for p in paths}


def _related(dirs: set[str], others: set[str]) -> bool:
    """A directory is related to itself, its parents and its children (never via the root)."""
    return any(a and b and (a == b or a.startswith(b + "/") or b.startswith(a + "/")) for a in dirs for b in others)


def _touched(a: CommitAnalysis, inp: RuleInput) -> set[str]:
    return _dirs(f.path for f in a.commit.files if not inp.policy.is_generated(f.path))


def _order_finding(analyses: Sequence[CommitAnalysis], inp: RuleInput) -> Draft | None:
    """The first image switch comes after configuration commits that change the same component.

    A commit changes the same component when it changes a hand-written file in a directory the
    switch commit also changes, or in a parent or child of one.

    Regenerated-output commits and commits about other files are not asked to move: they do not
    belong to the image change, and reordering them would only churn history.
    """
    switch_at = next((i for i, a in enumerate(analyses) if a.source_refs and a.summary.kind != "regenerated"), None)
    if switch_at is None:
        return None
    switch = analyses[switch_at]
    files = _touched(switch, inp)
    earlier = [
        a for a in analyses[:switch_at]
        if a.summary.kind in ("config", "mixed") and _related(files, _dirs(a.other_by_file))
    ]
    if not earlier:
        return None
    ref = _anchor(switch.source_refs)
    names = _join([_short(a.commit) for a in earlier[:_LISTED]] + (
        [f"{len(earlier) - _LISTED} more commits"] if len(earlier) > _LISTED else []))
    return Draft(
        IMAGE_SWITCH_ORDER, ref.path, ref.line,
        f"The image switch to `{ref.reference}` ({_short(switch.commit)}) comes after {names}, which "
        f"{'changes' if len(earlier) == 1 else 'change'} the same component. Put the image switch first, then the "
        "configuration changes it needs, so each step can be reviewed and reverted alone.",
        ref.normalized(), side=ref.side, commit=switch.commit.sha,
    )


def check(inp: RuleInput) -> RuleOutput:
    return analyse(inp).output
