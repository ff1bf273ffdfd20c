"""How long `image-review audit` takes on a generated tree of 20,000 files.

    python bench/audit_speed.py [--files 20000]

The tree mixes Go sources, YAML manifests, shell scripts, Dockerfiles and docs; about one file
in 50 references an image, some of them staging images, a few with inline exemptions (one
expired). Prints the time of the audit command and the time of `git ls-files` on the same tree
as a baseline for the machine's speed.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GO = (
    "package p{n}\n\n// Handler {n} serves requests.\n"
    'func Handler{n}(w http.ResponseWriter) {{\n\tfmt.Fprintf(w, "ok {n}")\n}}\n'
)
YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{n}\ndata:\n  key: value-{n}\n"
SHELL = "#!/bin/sh\nset -e\necho step {n}\n"
DOC = "# Component {n}\n\nSee the design notes for component {n}.\n"
IMAGE_YAML = "spec:\n  containers:\n  - name: c{n}\n{exemption}    image: {image}\n"
IMAGES = [
    "registry.k8s.io/pause:3.9",
    "quay.io/cilium/cilium:v1.16.2",
    "gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20221201-3-g1a2b3c4",
    "us-central1-docker.pkg.dev/k8s-staging-images/etcd-manager/etcd-manager-slim:v3.0.20250628-7-ga7be11fb",
]


def build_tree(root: Path, count: int) -> None:
    rng = random.Random(7)
    for n in range(count):
        folder = root / f"pkg{n % 200}"
        folder.mkdir(exist_ok=True)
        roll = rng.random()
        if roll < 0.02:
            image = rng.choice(IMAGES)
            exemption = ""
            if "staging" in image and n % 3 == 0:
                until = "2026-01-31" if n % 9 == 0 else "2027-06-30"
                exemption = f"    # image-review: allow staging-image until {until} tracked-by #{n}\n"
            text = IMAGE_YAML.format(n=n, image=image, exemption=exemption)
            (folder / f"deploy{n}.yaml").write_text(text)
        else:
            template, suffix = rng.choice([(GO, "go"), (YAML, "yaml"), (SHELL, "sh"), (DOC, "md")])
            (folder / f"file{n}.{suffix}").write_text(template.format(n=n))
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-q", "-m", "tree"],
    ):
        # No background gc or maintenance: it would still be writing objects when the tree is removed.
        quiet = ["-c", "gc.auto=0", "-c", "maintenance.auto=false"]
        subprocess.run(["git", "-C", str(root), *quiet, *args], check=True)


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(proc.stderr)
    return time.perf_counter() - start, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_tree(root, args.files)
        base_t, _ = timed(["git", "-C", str(root), "ls-files", "-s"])
        audit_t, out = timed([sys.executable, "-m", "app.cli", "audit", "--repo", str(root), "--today", "2026-11-26"])
    lines = out.splitlines()
    print(lines[0])
    statuses: dict[str, int] = {}
    for line in lines[1:]:
        status = line.strip().split("  ")[0].strip()
        statuses[status] = statuses.get(status, 0) + 1
    for status, n in statuses.items():
        print(f"  {n:5} x {status}")
    print(f"audit: {audit_t:.2f} s (target < 10 s)   git ls-files -s: {base_t:.3f} s   ratio {audit_t / base_t:.0f}x")
    return 0 if audit_t < 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
