"""How much grouping shrinks the review a pull request receives, on real pull requests.

    python bench/review_grouping.py [--corpus ../shared/corpus]

Analyses every pull request of the kops corpus (../shared/corpus/cases/*/pr.mbox) and of
bench/review_corpus/ as `check --patches` does (built-in policy, offline), then plans the review
both ways in the same run:

* inline comments — baseline: one finding per line, the others on that line become annotations;
  now: one comment per line holding all its findings. Prints findings stated inline either way.
* summary rows — baseline: one table row per finding; now: `report.summary.row_groups`.

Commentable lines are the lines shown in the hunks of the pull request's commits (GitHub comments
on the net diff, which can show fewer lines): the inline figures are an upper bound for both.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from app.analysis.analyze import ChangeSet, analyze
from app.core.models import Finding
from app.local.inputs import from_patches
from app.report.inline_comments import commentable_lines, plan_inline
from app.report.summary import row_groups

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parents[1] / "shared" / "corpus"
OWN_CORPUS = HERE / "review_corpus"
CAP = 30  # PublishOptions.max_inline_comments


@dataclass
class Figures:
    findings: int = 0
    rows_before: int = 0
    rows_after: int = 0
    inline_before: int = 0  # findings stated in an inline comment, one per line
    inline_after: int = 0
    comments_after: int = 0
    widest: tuple[int, int, str] = (0, 0, "")  # rows before, after, case


def mailboxes(corpus: Path) -> list[Path]:
    return sorted(corpus.glob("cases/*/pr.mbox")) + sorted(OWN_CORPUS.glob("*/pr.mbox"))


def findings_of(mbox: Path) -> tuple[list[Finding], dict[str, frozenset[int]]]:
    change = from_patches(str(mbox))
    assert change.commits is not None
    analysis = analyze(ChangeSet(files=change.files, commits=change.commits, files_are_commits=True))
    lines: dict[str, set[int]] = {}
    for commit in change.commits:
        for path, shown in commentable_lines(commit.files).items():
            lines.setdefault(path, set()).update(shown)
    return analysis.findings, {p: frozenset(s) for p, s in lines.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    total = Figures()
    boxes = mailboxes(args.corpus)
    for mbox in boxes:
        findings, commentable = findings_of(mbox)
        plan = plan_inline(findings, commentable, set(), CAP)
        rows = len(row_groups(findings))
        total.findings += len(findings)
        total.rows_before += len(findings)
        total.rows_after += rows
        # The baseline commented the same lines (same order, same cap), the first finding of each.
        total.inline_before += len(plan.new)
        total.inline_after += sum(len(c.findings) for c in plan.new)
        total.comments_after += len(plan.new)
        if len(findings) - rows > total.widest[0] - total.widest[1]:
            total.widest = (len(findings), rows, mbox.parent.name)
    print(f"{len(boxes)} pull requests, {total.findings} findings")
    print(f"summary table rows: {total.rows_before} one per finding -> {total.rows_after} grouped "
          f"({total.rows_after / max(1, total.rows_before):.2f} of the baseline)")
    before, after, case = total.widest
    print(f"  most grouped pull request: {case}: {before} rows -> {after}")
    print(f"findings stated in an inline comment: {total.inline_before} one per line -> {total.inline_after} merged "
          f"in {total.comments_after} comments ({total.inline_after / max(1, total.inline_before):.2f}x the baseline)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
