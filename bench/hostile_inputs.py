"""Hostile and unusual inputs: time and peak RSS of the CLI on each, as a user would run it.

    python bench/hostile_inputs.py [--only NAME ...] [--big-mb 50]

Each case is written to a temporary directory and run in its own process (`image-review scan`
for diffs, `image-review check --config` for policy files), so the peak RSS printed is that
case's alone. The first row is a one-line diff: process start-up, the baseline the other rows
are read against. Targets: under 2 s per MB of input and under 200 MB RSS; the policy cases
under 1 s, reported as IR016 policy-invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MB = 1_000_000
REF = "registry.k8s.io/pause:3.9"


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "scan" (the file is a diff) or "policy" (the file is a policy, checked on a small diff)
    write: Callable[[Path], None]


def header(path: str) -> str:
    return f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n"


def one_line(path: Path, name: str, line: str) -> None:
    path.write_text(header(name) + "@@ -0,0 +1 @@\n+" + line + "\n", encoding="utf-8")


def filler_line(size: int, cues: bool) -> str:
    """Minified-JSON-like text; with cues, a reference every ~100 KB (and an image word nearby)."""
    block = '{"name":"widget","value":"' + "x" * 200 + '"},'
    if not cues:
        return (block * (size // len(block) + 1))[:size]
    unit = block * (100_000 // len(block)) + f'{{"image":"{REF}"}},'
    return (unit * (size // len(unit) + 1))[:size]


def many_hunks(path: Path, count: int = 1_000_000) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(header("deploy/big.yaml"))
        for i in range(count):
            text = f"image: {REF}" if i % 1000 == 0 else f"replicas: {i}"
            out.write(f"@@ -{2 * i + 1},0 +{2 * i + 1} @@\n+{text}\n")


def many_files(path: Path, count: int = 100_000) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            text = f"image: {REF}" if i % 1000 == 0 else f"replicas: {i}"
            out.write(header(f"deploy/app-{i}.yaml") + f"@@ -1 +1 @@\n-replicas: 0\n+{text}\n")


def binary_and_invalid_utf8(path: Path, size: int = 10 * MB) -> None:
    with path.open("wb") as out:
        written = 0
        i = 0
        while written < size:
            name = f"assets/blob-{i}.bin"
            chunk = (f"diff --git a/{name} b/{name}\nindex 1111111..2222222 100644\n"
                     f"Binary files a/{name} and b/{name} differ\n").encode()
            garbage = bytes((j * 151 + i) % 256 for j in range(4000)).replace(b"\n", b" ")
            text = header(f"deploy/bad-{i}.yaml").encode() + b"@@ -1 +1 @@\n-image: \xff\xfe" + garbage + b"\n"
            text += b"+image: " + REF.encode() + b" \xc3\x28 \xed\xa0\x80\n"
            out.write(chunk + text)
            written += len(chunk) + len(text)
            i += 1


def alias_bomb(path: Path, levels: int = 9) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    path.write_text("\n".join(lines) + f"\nmutable_tags: *a{levels}\n", encoding="utf-8")


def deep_nesting(path: Path, depth: int = 5000) -> None:
    path.write_text("mutable_tags: " + "[" * depth + "x" + "]" * depth + "\n", encoding="utf-8")


def redos_patterns(path: Path) -> None:
    path.write_text("dev_tag_patterns:\n  nightly:\n    - '^(a+)+$'\n    - '^(\\w+\\s?)*$'\n", encoding="utf-8")


def cases(big: int) -> Iterator[Case]:
    yield Case("baseline: one-line diff", "scan", lambda p: one_line(p, "deploy/a.yaml", f"image: {REF}"))
    yield Case("1 MB line, no cues", "scan", lambda p: one_line(p, "dist/app.json", filler_line(MB, False)))
    yield Case("1 MB line, cues", "scan", lambda p: one_line(p, "dist/app.json", filler_line(MB, True)))
    yield Case(f"{big} MB line, no cues", "scan", lambda p: one_line(p, "dist/app.json", filler_line(big * MB, False)))
    yield Case(f"{big} MB line, cues", "scan", lambda p: one_line(p, "dist/app.json", filler_line(big * MB, True)))
    yield Case("1 MB adversarial 'imageaaaa...'", "scan", lambda p: one_line(p, "a.yaml", "image" + "a" * MB))
    yield Case("1,000,000 one-line hunks", "scan", many_hunks)
    yield Case("100,000 files", "scan", many_files)
    yield Case("binary + invalid UTF-8", "scan", binary_and_invalid_utf8)
    yield Case("policy: alias bomb (9 levels)", "policy", alias_bomb)
    yield Case("policy: 5,000 levels of nesting", "policy", deep_nesting)
    yield Case("policy: ReDoS dev_tag_patterns", "policy", redos_patterns)


@dataclass(frozen=True)
class Result:
    seconds: float
    rss_mb: int
    exit_code: int
    stdout: bytes


def run(cmd: list[str]) -> Result:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    return Result(time.perf_counter() - start, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status), out)


def policy_repo(repo: Path, policy: Path) -> tuple[str, str]:
    """A git repository whose second commit adds ``policy`` as the repository's policy file."""
    def git(*argv: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
               "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
        return subprocess.run(["git", "-C", str(repo), *argv], check=True, capture_output=True, text=True,
                              env=env).stdout.strip()

    repo.mkdir()
    git("init", "-q")
    (repo / "deploy").mkdir()
    (repo / "deploy" / "app.yaml").write_text("image: registry.k8s.io/app:v1.0.0\n", encoding="utf-8")
    git("add", "-A")
    git("commit", "-qm", "base")
    base = git("rev-parse", "HEAD")
    (repo / ".github").mkdir()
    (repo / ".github" / "image-review.yml").write_bytes(policy.read_bytes())
    git("add", "-A")
    git("commit", "-qm", "policy")
    return base, git("rev-parse", "HEAD")


def measure(case: Case, tmp: Path, big: int) -> str:
    target = tmp / ("policy.yml" if case.kind == "policy" else "input.diff")
    # Written by a child process: Linux keeps a parent's peak RSS across fork and exec, so a
    # bench process that had built a 50 MB line would inflate every later measurement.
    subprocess.run([sys.executable, __file__, "--write", case.name, str(target), "--big-mb", str(big)], check=True)
    size = target.stat().st_size
    cli = [sys.executable, "-m", "app.cli"]
    if case.kind == "policy":
        base, head = policy_repo(tmp / "repo", target)
        res = run([*cli, "check", "--git", f"{base}..{head}", "--repo", str(tmp / "repo"), "--format", "json",
                   "--fail-on", "never"])
        rules = {f.get("rule") for f in json.loads(res.stdout or b"{}").get("findings", [])}
        detail = "IR016 reported" if "IR016" in rules else f"IR016 MISSING (rules {sorted(r for r in rules if r)})"
        limit = 1.0
    else:
        res = run([*cli, "scan", "--diff", str(target), "--format", "json"])
        refs = len(json.loads(res.stdout or b"{}").get("references", [])) if res.exit_code == 0 else -1
        detail = f"{refs} references"
        limit = max(2.0, 2.0 * size / MB)
    verdict = "ok" if res.seconds < limit and res.rss_mb < 200 and res.exit_code == 0 else "OVER"
    return (f"{case.name:34} {size / MB:8.2f} MB {res.seconds:8.2f} s {res.rss_mb:6d} MB RSS  "
            f"exit {res.exit_code}  {detail:28} {verdict} (limit {limit:.1f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mb", type=int, default=50, help="size of the big single-line cases")
    parser.add_argument("--only", nargs="*", help="run only cases whose name contains one of these words")
    parser.add_argument("--write", nargs=2, metavar=("CASE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        name, path = args.write
        next(c for c in cases(args.big_mb) if c.name == name).write(Path(path))
        return 0
    print(f"{'case':34} {'input':>11} {'time':>10} {'peak':>10}")
    for case in cases(args.big_mb):
        if args.only and not case.name.startswith("baseline") and not any(w in case.name for w in args.only):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            print(measure(case, Path(tmp), args.big_mb), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
