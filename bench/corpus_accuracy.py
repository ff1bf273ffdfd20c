"""Precision and recall of the reference scanner on the labelled kops corpus.

    python bench/corpus_accuracy.py [--corpus ../shared/corpus] [--verbose]

Plain labelled references must be found (same path, side, normalized reference and line);
labels marked templated, partial, repository-only or in a comment may be found or not;
any output that matches no label is a false positive.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.analysis.scan import scan_diff
from app.core.models import RefChange
from app.core.references import try_parse

OPTIONAL_FLAGS = ("templated", "partial", "repository_only", "in_comment")
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def label_key(label: dict[str, object]) -> tuple[str, str, int, str]:
    line = label["line"] if label["side"] == "added" else label["old_line"]
    return (str(label["file"]), str(label["side"]), int(line), normalize(str(label["reference"])))  # type: ignore[call-overload]


def normalize(text: str) -> str:
    ref = try_parse(text)
    return ref.canonical() if ref is not None else text


def found_key(ref: RefChange) -> tuple[str, str, int, str]:
    return (ref.path, ref.side, ref.line, normalize(ref.reference))


def score_case(case_dir: Path) -> dict[str, object]:
    case = json.loads((case_dir / "case.json").read_text())
    required: Counter[tuple[str, str, int, str]] = Counter()
    optional: Counter[tuple[str, str, int, str]] = Counter()
    for label in case["image_changes"]:
        target = optional if any(label.get(f) for f in OPTIONAL_FLAGS) else required
        target[label_key(label)] += 1
    found = Counter(found_key(r) for r in scan_diff((case_dir / "pr.diff").read_bytes()))
    tp_required = sum(min(n, found[k]) for k, n in required.items())
    extra = found - required
    tp_optional = sum(min(n, optional[k]) for k, n in extra.items())
    false_pos = extra - optional
    missed = required - found
    return {
        "case": case_dir.name, "pr": case["pr"], "required": sum(required.values()),
        "found": sum(found.values()), "tp": tp_required + tp_optional, "tp_required": tp_required,
        "fp": sum(false_pos.values()), "fn": sum(missed.values()),
        "fp_items": sorted(false_pos), "fn_items": sorted(missed),
    }


def ratio(num: float, den: float) -> float:
    return num / den if den else 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--verbose", "-v", action="store_true", help="list every miss and false positive")
    args = parser.parse_args()
    cases = sorted(p.parent for p in args.corpus.glob("cases/*/case.json"))
    if not cases:
        print(f"no cases under {args.corpus}", file=sys.stderr)
        return 2
    results = [score_case(c) for c in cases]
    print(f"{'case':58} {'req':>5} {'found':>5} {'fp':>4} {'fn':>4} {'prec':>6} {'rec':>6}")
    precisions, recalls = [], []
    for r in results:
        p = ratio(r["tp"], r["tp"] + r["fp"])  # type: ignore[operator]
        rc = ratio(r["tp_required"], r["required"])  # type: ignore[arg-type]
        precisions.append(p)
        recalls.append(rc)
        print(f"{r['case'][:58]:58} {r['required']:>5} {r['found']:>5} {r['fp']:>4} {r['fn']:>4} {p:6.3f} {rc:6.3f}")
        if args.verbose:
            for item in r["fp_items"]:  # type: ignore[attr-defined]
                print(f"    FP {item}")
            for item in r["fn_items"]:  # type: ignore[attr-defined]
                print(f"    FN {item}")
    tp = sum(int(r["tp"]) for r in results)  # type: ignore[call-overload]
    fp = sum(int(r["fp"]) for r in results)  # type: ignore[call-overload]
    tpr = sum(int(r["tp_required"]) for r in results)  # type: ignore[call-overload]
    req = sum(int(r["required"]) for r in results)  # type: ignore[call-overload]
    print(f"\nmicro: precision {ratio(tp, tp + fp):.4f}  recall {ratio(tpr, req):.4f}  "
          f"(tp {tp}, fp {fp}, required {req}, required found {tpr})")
    print(f"macro: precision {sum(precisions) / len(precisions):.4f}  recall {sum(recalls) / len(recalls):.4f}  "
          f"over {len(results)} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
