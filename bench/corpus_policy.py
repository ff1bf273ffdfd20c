"""The policy on the labelled kops corpus: expected labels beside what `check` found, per case.

    python bench/corpus_policy.py [--corpus ../shared/corpus]

Each case is analysed as the App sees a pull request: the merge-base diff (pr.diff) plus every
commit's own diff (pr.mbox), with the default policy. Checks:
  * staging_added_production  ->  an IR001 staging-image error (and none when no staging is added),
  * the change pattern equals `two_step` or `two_step_strict` (a one-commit PR may also be `mixed`
    when its other lines are not all in generated files),
  * a staging image added and removed again inside the PR (staging_added_in_any_commit without
    staging_added) is reported at commit level (IR017).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.analysis.analyze import AnalysisContext, ChangeSet, analyze
from app.core.diffs import parse_diff, parse_mbox

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def judge(case_dir: Path) -> dict[str, object]:
    case = json.loads((case_dir / "case.json").read_text())
    exp = case["expected"]
    change = ChangeSet(parse_diff((case_dir / "pr.diff").read_bytes()), parse_mbox((case_dir / "pr.mbox").read_bytes()))
    analysis = analyze(change, AnalysisContext(today=date(2026, 11, 26)))
    ir001 = [f for f in analysis.findings if f.rule == "IR001" and f.severity == "error"]
    ir017 = [f for f in analysis.findings if f.rule == "IR017"]
    pattern = analysis.change_pattern
    accepted = {exp["two_step"], exp["two_step_strict"]}
    if len(case["commits"]) == 1:
        accepted.add("mixed")
    transient = exp["staging_added_in_any_commit"] and not exp["staging_added"]
    checks = {
        "staging": bool(ir001) == bool(exp["staging_added_production"]),
        "pattern": pattern in accepted,
        "history": bool(ir017) == bool(transient),
    }
    return {
        "case": case_dir.name,
        "pr": case["pr"],
        "exp_staging": exp["staging_added_production"],
        "ir001": len(ir001),
        "exp_pattern": exp["two_step"],
        "exp_strict": exp["two_step_strict"],
        "pattern": pattern,
        "ir017": len(ir017),
        "transient": transient,
        "checks": checks,
        "kinds": " ".join(c.kind for c in analysis.commits),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    cases = sorted(p.parent for p in args.corpus.glob("cases/*/case.json"))
    if not cases:
        print(f"no cases under {args.corpus}", file=sys.stderr)
        return 2
    rows = [judge(c) for c in cases]
    print(
        f"{'PR':>6} {'staging(prod)':>13} {'IR001':>5}  {'two_step / strict':32} {'found':17} {'IR017':>5}  ok  commits"
    )
    for r in rows:
        checks: dict[str, bool] = r["checks"]  # type: ignore[assignment]
        ok = "yes" if all(checks.values()) else "NO " + ",".join(k for k, v in checks.items() if not v)
        labels = f"{r['exp_pattern']} / {r['exp_strict']}"
        print(
            f"{r['pr']:>6} {r['exp_staging']!s:>13} {r['ir001']:>5}  {labels:32} {r['pattern']!s:17} "
            f"{r['ir017']:>5}  {ok:3} {r['kinds']}"
        )
    totals = {k: sum(1 for r in rows if r["checks"][k]) for k in ("staging", "pattern", "history")}  # type: ignore[index]
    print(
        f"\n{len(rows)} cases: staging-image verdict {totals['staging']}/{len(rows)}, "
        f"change pattern {totals['pattern']}/{len(rows)}, commit-level staging {totals['history']}/{len(rows)}"
    )
    return 0 if all(v == len(rows) for v in totals.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
