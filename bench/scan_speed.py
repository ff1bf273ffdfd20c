"""How fast `image-review scan` reads a big diff, against a plain unidiff parse of the same file.

    python bench/scan_speed.py [--dense] [--size-mb 55] [--keep FILE]

Builds a unified diff of at least --size-mb megabytes from the Python standard library's
sources (hunks that edit every few lines, as a big refactoring would), with image references
sparse in it (one YAML manifest change per ~400 files), then times in one run:
the scan command as a user runs it, `unidiff.PatchSet` on the same file, their ratio, and the
peak RSS of each process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HUNK_EVERY = 9  # one changed line in every 9, as a big refactoring would be
DENSE_EVERY = 4  # --dense: one changed line in four, as a mass rename or reformat would be
DENSE_HUNK = 40  # source lines per hunk in --dense


def source_files() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    # Installed packages (site-packages) vary between machines and hold real image names (an AWS
    # CLI's build images): the planted references must be the only ones.
    return sorted(p for p in stdlib.rglob("*.py")
                  if not {"test", "site-packages", "dist-packages"} & set(p.parts) and p.stat().st_size > 2000)


def file_diff(path: str, lines: list[str]) -> Iterator[str]:
    yield f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n"
    for start in range(3, len(lines) - 4, HUNK_EVERY):
        old_no = start - 2  # 1-based first context line
        yield f"@@ -{old_no},7 +{old_no},7 @@\n"
        window = lines[start - 3 : start + 4]
        for i, text in enumerate(window):
            if i == 3:
                yield f"-{text}\n+{text.rstrip()}  # reviewed\n"
            else:
                yield f" {text}\n"


def dense_file_diff(path: str, lines: list[str]) -> Iterator[str]:
    """Hunks of DENSE_HUNK lines back to back, every DENSE_EVERY-th line edited."""
    yield f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n"
    for start in range(0, len(lines) - DENSE_HUNK, DENSE_HUNK + 1):
        yield f"@@ -{start + 1},{DENSE_HUNK} +{start + 1},{DENSE_HUNK} @@\n"
        for i, text in enumerate(lines[start : start + DENSE_HUNK]):
            if i % DENSE_EVERY == DENSE_EVERY - 1:
                yield f"-{text}\n+{text.rstrip()}  # renamed\n"
            else:
                yield f" {text}\n"


def manifest_diff(n: int) -> str:
    old, new = f"v1.{n}.0", f"v1.{n}.1"
    path = f"deploy/service-{n}/deployment.yaml"
    return (
        f"diff --git a/{path} b/{path}\nindex 3333333..4444444 100644\n--- a/{path}\n+++ b/{path}\n"
        "@@ -18,5 +18,5 @@ spec:\n"
        "     spec:\n       containers:\n       - name: app\n"
        f"-        image: registry.example.com/team/service-{n}:{old}\n"
        f"+        image: registry.example.com/team/service-{n}:{new}\n"
        "         ports:\n"
    )


def build_diff(target: Path, size_mb: int, dense: bool = False) -> tuple[int, int]:
    """Write the diff; return (bytes, expected references)."""
    sections = dense_file_diff if dense else file_diff
    files = source_files()
    rng = random.Random(1234)
    written, refs, n = 0, 0, 0
    with target.open("w", encoding="utf-8", errors="surrogateescape") as out:
        while written < size_mb * 1_000_000:
            src = files[n % len(files)]
            lines = src.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
            for chunk in sections(f"lib{n // len(files)}/{src.name}", lines):
                out.write(chunk)
                written += len(chunk)
            if rng.random() < 1 / 400:
                chunk = manifest_diff(n)
                out.write(chunk)
                written += len(chunk)
                refs += 2
            n += 1
    return target.stat().st_size, refs


def timed(cmd: list[str]) -> tuple[float, int, bytes, float]:
    """Wall time, peak RSS in MB, stdout and CPU seconds (its children's included) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks = []
    assert proc.stdout is not None
    for block in iter(lambda: proc.stdout.read(65536), b""):  # type: ignore[union-attr]
        chunks.append(block)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{err}")
    return elapsed, usage.ru_maxrss // 1024, b"".join(chunks), usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=55)
    parser.add_argument("--dense", action="store_true",
                        help="one changed line in four (targets: >= 10x, peak RSS <= 100 MB)")
    parser.add_argument("--keep", type=Path, help="write the generated diff here and keep it")
    parser.add_argument("--runs", type=int, default=2, help="take the best of this many runs of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        diff = args.keep or Path(tmp) / "big.diff"
        size, expected = build_diff(diff, args.size_mb, args.dense)
        scan_cmd = [sys.executable, "-m", "app.cli", "scan", "--diff", str(diff), "--format", "json"]
        unidiff_cmd = [sys.executable, "-c",
                       "import sys, unidiff; unidiff.PatchSet(open(sys.argv[1], encoding='utf-8', errors='replace'))",
                       str(diff)]
        scans = [timed(scan_cmd) for _ in range(args.runs)]
        bases = [timed(unidiff_cmd) for _ in range(args.runs)]
    scan_t, scan_rss, out, scan_cpu = min(scans)
    base_t, base_rss, _, base_cpu = min(bases)
    found = len(json.loads(out)["references"])
    print(f"diff: {size / 1e6:.1f} MB, {expected} image references planted")
    print(f"image-review scan --format json : {scan_t:7.2f} s   peak RSS {scan_rss:5d} MB   "
          f"CPU {scan_cpu:5.2f} s   references found {found}")
    print(f"unidiff.PatchSet (parse only)   : {base_t:7.2f} s   peak RSS {base_rss:5d} MB   CPU {base_cpu:5.2f} s")
    target, rss_cap = ("10x", "<= 100 MB") if args.dense else ("5x", "< 150 MB")
    kind = "dense: one changed line in four" if args.dense else f"one changed line in {HUNK_EVERY}"
    print(f"diff kind: {kind}")
    print(f"speed-up: {base_t / scan_t:.1f}x  (target >= {target})   scan peak RSS target {rss_cap}")
    # A big diff is scanned in two processes: the CPU ratio is what one core would give.
    print(f"CPU-time ratio: {base_cpu / scan_cpu:.1f}x")
    return 0 if found == expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
