"""Review quality: every finding `check --patches` reports, against verdicts judged by a reviewer.

    python bench/review_quality.py [--corpus ../shared/corpus] [--labels bench/review_labels.json]
                                   [--unlabelled]

Runs the CLI (`image-review check --patches pr.mbox --format json`, the built-in policy, offline)
over the kops corpus (../shared/corpus/cases/*/pr.mbox), the real pull requests of other
Kubernetes projects in bench/review_corpus/ (provenance in its index.json) and those of the
detection corpus bench/corpora/public/ (provenance in each case.json; a pull request already in
review_corpus is taken once). Prints findings per rule
and severity, then the verdicts kept in the labels file — `useful` (a release manager would have
written it), `noise` (true but not worth a reviewer's time), `wrong` (false, or on the wrong line) —
and the share of wrong findings per rule. Labels are keyed by case and finding fingerprint (rule,
path, normalized reference, side: stable across line moves); a finding without a label is listed
with --unlabelled so it can be judged. Also checks that no pull request shipping a staging image to
production passes without an error or warning (the kops labels, the `ships_staging` field of
review_corpus/index.json and the public corpus' expectations say which ones do).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parents[1] / "shared" / "corpus"
OWN_CORPUS = HERE / "review_corpus"
PUBLIC_CORPUS = HERE / "corpora" / "public"
DEFAULT_LABELS = HERE / "review_labels.json"
VERDICTS = ("useful", "noise", "wrong")


@dataclass(frozen=True)
class Case:
    slug: str
    mbox: Path
    ships_staging: bool | None  # None: not labelled
    kops: bool = False


@dataclass(frozen=True)
class Found:
    case: str
    rule: str
    severity: str
    path: str
    line: int | None
    message: str
    fingerprint: str

    @property
    def key(self) -> str:
        return f"{self.case}/{self.fingerprint}"


def cases(corpus: Path) -> list[Case]:
    out: list[Case] = []
    for d in sorted((corpus / "cases").glob("*/")):
        label = json.loads((d / "case.json").read_text())["expected"]["staging_added_production"]
        out.append(Case(d.name, d / "pr.mbox", bool(label), kops=True))
    index = json.loads((OWN_CORPUS / "index.json").read_text())["cases"]
    seen = {(c["repo"], c["pr"]) for c in index}
    ships = {c["slug"]: c.get("ships_staging") for c in index}  # absent: not judged yet
    for d in sorted(OWN_CORPUS.glob("*/")):
        out.append(Case(d.name, d / "pr.mbox", ships.get(d.name)))
    for d in sorted((PUBLIC_CORPUS / "cases").glob("*/")):
        meta = json.loads((d / "case.json").read_text())
        if (meta["repo"], meta["pr"]) not in seen:
            out.append(Case(d.name, d / "pr.mbox", bool(meta["expected"]["staging_added_production"])))
    return out


def check(case: Case) -> list[Found]:
    cli = Path(sys.executable).with_name("image-review")
    command = [str(cli), "check", "--patches", str(case.mbox), "--format", "json", "--fail-on", "never",
               "--offline"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{case.slug}: image-review exited {result.returncode}: {result.stderr.strip()}")
    doc = json.loads(result.stdout)
    return [Found(case.slug, f["rule"], f["severity"], f["path"], f["line"], f["message"], f["fingerprint"])
            for f in doc["findings"] if f.get("exempted_by") is None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--unlabelled", action="store_true", help="list findings that have no verdict yet")
    args = parser.parse_args()
    labels: dict[str, dict[str, str]] = json.loads(args.labels.read_text()) if args.labels.exists() else {}
    all_cases = cases(args.corpus)
    found: list[Found] = []
    passed_with_staging: list[str] = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # each check is its own process
        results = list(pool.map(check, all_cases))
    for case, findings in zip(all_cases, results, strict=True):
        found.extend(findings)
        if case.ships_staging and not any(f.severity in ("error", "warning") for f in findings):
            passed_with_staging.append(case.slug)
    in_kops = {c.slug for c in all_cases if c.kops}

    per_rule: dict[str, Counter[str]] = defaultdict(Counter)
    per_source: dict[str, Counter[str]] = defaultdict(Counter)
    severities: Counter[tuple[str, str]] = Counter()
    unlabelled: list[Found] = []
    for f in found:
        severities[(f.rule, f.severity)] += 1
        verdict = labels.get(f.key, {}).get("verdict")
        source = "kops" if f.case in in_kops else "other projects"
        if verdict in VERDICTS:
            per_rule[f.rule][verdict] += 1
            per_source[source][verdict] += 1
        else:
            unlabelled.append(f)
            per_rule[f.rule]["unlabelled"] += 1
            per_source[source]["unlabelled"] += 1
    stale = sorted(set(labels) - {f.key for f in found})

    kops = len(in_kops)
    print(f"{len(all_cases)} pull requests ({kops} kops corpus, {len(all_cases) - kops} other projects), "
          f"{len(found)} findings")
    print("\nfindings per rule and severity")
    for (rule, severity), n in sorted(severities.items()):
        print(f"  {rule}  {severity:8} {n:5}")
    print("\nverdicts per rule            useful  noise  wrong  unlabelled   wrong %  useful %")
    totals: Counter[str] = Counter()
    for rule in sorted(per_rule):
        c = per_rule[rule]
        totals.update(c)
        print(_row(rule, c))
    print(_row("all", totals))
    for source in ("kops", "other projects"):
        print(_row(f"  {source}", per_source[source]))
    print(f"\npull requests shipping a staging image to production that pass clean: "
          f"{len(passed_with_staging)}" + (f" ({', '.join(passed_with_staging)})" if passed_with_staging else ""))
    if stale:
        print(f"labels for findings no longer reported: {len(stale)}")
    if args.unlabelled:
        for f in unlabelled:
            print(f"\n{f.key}\n  {f.rule} {f.severity} {f.path}:{f.line}\n  {f.message}")
    return 0


def _row(name: str, c: Counter[str]) -> str:
    judged = c["useful"] + c["noise"] + c["wrong"]
    wrong = f"{100 * c['wrong'] / judged:7.1f}" if judged else "      -"
    useful = f"{100 * c['useful'] / judged:8.1f}" if judged else "       -"
    return f"  {name:24} {c['useful']:7} {c['noise']:6} {c['wrong']:6} {c['unlabelled']:11}   {wrong}  {useful}"


if __name__ == "__main__":
    raise SystemExit(main())
