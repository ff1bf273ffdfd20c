"""Precision and recall of the reference scanner on labelled PR corpora.

    python bench/corpus_accuracy.py [--corpus DIR ...] [--cases] [--verbose]

Without --corpus it reads ../shared/corpus (when present) and every bench/corpora/*/ that
holds cases. Plain labelled references must be found (same path, side, normalized reference
and line); labels marked templated, partial, repository-only, in a comment or optional may
be found or not; any output that matches no label is a false positive. Prints micro
precision/recall per repository and overall, and macro figures over cases.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.analysis.scan import scan_diff
from app.core.models import RefChange
from app.core.references import try_parse

OPTIONAL_FLAGS = ("templated", "partial", "repository_only", "in_comment", "optional")
BENCH = Path(__file__).resolve().parent
SHARED_CORPUS = BENCH.parents[1] / "shared" / "corpus"
Key = tuple[str, str, int, str]


@dataclass(frozen=True)
class CaseScore:
    """Scanner output of one case compared with its labels."""

    case: str
    repo: str
    pr: int
    required: int
    found: int
    tp: int
    tp_required: int
    fp_items: list[Key] = field(default_factory=list)
    fn_items: list[Key] = field(default_factory=list)

    @property
    def fp(self) -> int:
        return len(self.fp_items)

    @property
    def fn(self) -> int:
        return len(self.fn_items)

    @property
    def precision(self) -> float:
        return ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return ratio(self.tp_required, self.required)


def default_corpora() -> list[Path]:
    corpora = [SHARED_CORPUS] if SHARED_CORPUS.is_dir() else []
    return corpora + sorted(p for p in (BENCH / "corpora").iterdir() if (p / "cases").is_dir())


def case_dirs(corpus: Path) -> list[Path]:
    return sorted(p.parent for p in corpus.glob("cases/*/case.json"))


def label_key(label: dict[str, object]) -> Key:
    line = label["line"] if label["side"] == "added" else label["old_line"]
    return (str(label["file"]), str(label["side"]), int(line), normalize(str(label["reference"])))  # type: ignore[call-overload]


def normalize(text: str) -> str:
    ref = try_parse(text)
    return ref.canonical() if ref is not None else text


def found_key(ref: RefChange) -> Key:
    return (ref.path, ref.side, ref.line, normalize(ref.reference))


def score_case(case_dir: Path) -> CaseScore:
    case = json.loads((case_dir / "case.json").read_text())
    required: Counter[Key] = Counter()
    optional: Counter[Key] = Counter()
    for label in case["image_changes"]:
        target = optional if any(label.get(f) for f in OPTIONAL_FLAGS) else required
        target[label_key(label)] += 1
    found = Counter(found_key(r) for r in scan_diff((case_dir / "pr.diff").read_bytes()))
    tp_required = sum(min(n, found[k]) for k, n in required.items())
    extra = found - required
    tp_optional = sum(min(n, optional[k]) for k, n in extra.items())
    return CaseScore(
        case=case_dir.name, repo=str(case["repo"]), pr=int(case["pr"]), required=sum(required.values()),
        found=sum(found.values()), tp=tp_required + tp_optional, tp_required=tp_required,
        fp_items=sorted((extra - optional).elements()), fn_items=sorted((required - found).elements()),
    )


def ratio(num: float, den: float) -> float:
    return num / den if den else 1.0


def micro(scores: list[CaseScore]) -> tuple[float, float]:
    tp, fp = sum(s.tp for s in scores), sum(s.fp for s in scores)
    return ratio(tp, tp + fp), ratio(sum(s.tp_required for s in scores), sum(s.required for s in scores))


def print_cases(scores: list[CaseScore], verbose: bool) -> None:
    print(f"{'case':58} {'req':>5} {'found':>5} {'fp':>4} {'fn':>4} {'prec':>6} {'rec':>6}")
    for s in scores:
        print(f"{s.case[:58]:58} {s.required:>5} {s.found:>5} {s.fp:>4} {s.fn:>4} {s.precision:6.3f} {s.recall:6.3f}")
        if verbose:
            for item in s.fp_items:
                print(f"    FP {item}")
            for item in s.fn_items:
                print(f"    FN {item}")
    print()


def print_repos(scores: list[CaseScore]) -> None:
    print(f"{'repository':40} {'cases':>5} {'req':>5} {'tp':>5} {'fp':>4} {'fn':>4} {'prec':>6} {'rec':>6}")
    for repo in sorted({s.repo for s in scores}):
        group = [s for s in scores if s.repo == repo]
        precision, recall = micro(group)
        print(f"{repo:40} {len(group):>5} {sum(s.required for s in group):>5} {sum(s.tp for s in group):>5} "
              f"{sum(s.fp for s in group):>4} {sum(s.fn for s in group):>4} {precision:6.3f} {recall:6.3f}")


def print_totals(label: str, scores: list[CaseScore]) -> None:
    precision, recall = micro(scores)
    macro_p = sum(s.precision for s in scores) / len(scores)
    macro_r = sum(s.recall for s in scores) / len(scores)
    print(f"{label}: micro precision {precision:.4f} recall {recall:.4f} | "
          f"macro precision {macro_p:.4f} recall {macro_r:.4f} | {len(scores)} cases, "
          f"{sum(s.required for s in scores)} required labels")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append",
                        help="corpus directory with cases/*/case.json (repeatable; default: all known corpora)")
    parser.add_argument("--cases", action="store_true", help="print one line per case")
    parser.add_argument("--verbose", "-v", action="store_true", help="per case, list every miss and false positive")
    args = parser.parse_args()
    corpora: list[Path] = args.corpus or default_corpora()
    everything: list[CaseScore] = []
    for corpus in corpora:
        cases = case_dirs(corpus)
        if not cases:
            print(f"no cases under {corpus}", file=sys.stderr)
            return 2
        scores = [score_case(c) for c in cases]
        print(f"== corpus {corpus}")
        if args.cases or args.verbose:
            print_cases(scores, args.verbose)
        print_repos(scores)
        print_totals("corpus", scores)
        print()
        everything += scores
    if len(corpora) > 1:
        print_totals("all corpora", everything)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
