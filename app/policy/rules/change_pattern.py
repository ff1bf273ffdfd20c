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

The PR verdict (the corpus "two_step" labels):

* ``n/a``: no image reference changes, in the PR or in any commit;
* ``single-commit``: one commit (or a plain diff) whose other lines are all generated or neutral;
* ``image-only-first``: several commits, and the first commit that changes anything is an
  ``image-switch``;
* ``mixed``: anything else, including an image switch that comes after configuration commits
  (the corpus labels those ``mixed``: the switch must come first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.core.comment_syntax import is_neutral
from app.core.diffs import FileDiff
from app.core.models import ChangePattern, CommitKind, CommitSummary, RefChange, Side
from app.policy.catalog import IMAGE_SWITCH_ORDER, MIXED_IMAGE_COMMIT, RuleMeta
from app.policy.context import CommitInput, Draft, RuleInput, RuleOutput
from app.policy.images import critical_patterns

RULES: tuple[RuleMeta, ...] = (MIXED_IMAGE_COMMIT, IMAGE_SWITCH_ORDER)
_LISTED = 10


@dataclass(slots=True)
class CommitAnalysis:
    summary: CommitSummary
    commit: CommitInput
    # References on image lines outside generated files: the commit's own image switch.
    source_refs: list[RefChange] = field(default_factory=list)


@dataclass(slots=True)
class PatternResult:
    commits: list[CommitSummary]
    change_pattern: ChangePattern
    output: RuleOutput


def classify_commit(commit: CommitInput, inp: RuleInput) -> CommitAnalysis:
    policy = inp.policy
    image_keys: dict[tuple[Side, str, int], RefChange] = {}
    for ref in commit.refs:
        for ref_line in (ref.line, *ref.lines):
            image_keys.setdefault((ref.side, ref.path, ref_line), ref)
    summary = CommitSummary(commit.sha, commit.subject, "none")
    result = CommitAnalysis(summary, commit)
    generated_image_lines = 0
    for f in commit.files:
        generated = policy.is_generated(f.path)
        if not f.hunks:
            _count_unparsed(f, generated, summary)
            continue
        for hunk in f.hunks:
            for line in hunk.lines:
                if line.kind == " ":
                    continue
                side: Side = "added" if line.kind == "+" else "removed"
                path = (f.new_path if side == "added" else f.old_path) or f.path
                number = line.new_no if side == "added" else line.old_no
                hit = image_keys.get((side, path, number or -1))
                if generated:
                    summary.generated_lines += 1
                    generated_image_lines += hit is not None
                elif hit is not None:
                    summary.image_lines += 1
                    if hit not in result.source_refs:
                        result.source_refs.append(hit)
                elif not is_neutral(path, line.text):
                    summary.other_lines += 1
                    where = f"{path}:{number}"
                    # A replaced line shows up once (its removed and added halves share a number).
                    if where not in summary.other_locations:
                        summary.other_locations.append(where)
    summary.kind = _kind(summary.image_lines + generated_image_lines, summary.other_lines, summary.generated_lines)
    return result


def _count_unparsed(f: FileDiff, generated: bool, summary: CommitSummary) -> None:
    """A binary or prefiltered file: its lines are known only as counts, none of them an image line."""
    changed = max(f.added + f.removed, 1 if f.binary or f.old_mode != f.new_mode else 0)
    if not changed:
        return
    if generated:
        summary.generated_lines += changed
    else:
        summary.other_lines += changed
        summary.other_locations.append(f.path)


def _kind(image: int, other: int, generated: int) -> CommitKind:
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
    for a in analyses:
        if a.summary.kind == "mixed" and a.source_refs:
            output.drafts.append(_mixed_finding(inp, a))
    if known and len(analyses) > 1:
        order = _order_finding(analyses)
        if order is not None:
            output.drafts.append(order)
    return PatternResult(summaries, verdict, output)


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


def _mixed_finding(inp: RuleInput, a: CommitAnalysis) -> Draft:
    ref = _anchor(a.source_refs)
    s = a.summary
    shown = s.other_locations[:_LISTED]  # lines, or whole files for binary/unparsed ones
    more = len(s.other_locations) - len(shown)
    listing = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    critical = any(critical_patterns(inp.policy, r) for r in a.source_refs)
    return Draft(
        MIXED_IMAGE_COMMIT, ref.path, ref.line,
        f"{_sentence(_short(a.commit))} switches `{ref.reference}` and also changes {s.other_lines} other "
        f"line(s): {listing}. Keep the image switch in a commit of its own and move these changes to a "
        "follow-up commit (regenerated files may stay with either).",
        ref.normalized(), severity="warning" if critical else None, side=ref.side, commit=a.commit.sha,
    )


def _order_finding(analyses: Sequence[CommitAnalysis]) -> Draft | None:
    switch_at = next((i for i, a in enumerate(analyses) if a.source_refs), None)
    if switch_at is None:
        return None
    earlier = [a for a in analyses[:switch_at] if a.summary.kind in ("config", "mixed")]
    if not earlier:
        return None
    switch = analyses[switch_at]
    ref = _anchor(switch.source_refs)
    names = ", ".join(_short(a.commit) for a in earlier)
    return Draft(
        IMAGE_SWITCH_ORDER, ref.path, ref.line,
        f"The image switch to `{ref.reference}` ({_short(switch.commit)}) comes after {names}. Put the image "
        "switch first, then the configuration changes it needs, so each step can be reviewed and reverted alone.",
        ref.normalized(), side=ref.side, commit=switch.commit.sha,
    )


def check(inp: RuleInput) -> RuleOutput:
    return analyse(inp).output
