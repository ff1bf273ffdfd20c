"""Cut one labelled-corpus case out of a local git clone of a public repository.

    python bench/corpora/build_case.py GIT_DIR OWNER/NAME MERGE_SHA SLUG CORPUS_DIR

Writes CORPUS_DIR/cases/SLUG/{pr.diff,pr.mbox,case.json}. For a merge commit M the PR is
M^1..M^2 and pr.diff is the merge-base diff `git diff M^1...M^2` (GitHub "Files changed");
for a squash commit S the PR is the single commit and pr.diff is `git diff S^ S`.
pr.mbox is `git format-patch --stdout --no-binary` (binary contents are left out, as in pr.diff).
case.json gets provenance and image_changes pre-filled from the scanner, each with
method "prefill"; the labeller then reads the diff and adds, fixes or drops records.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from labels import describe

from app.analysis.scan import scan_diff

PR_NUMBER = re.compile(r"Merge pull request #(\d+)|\(#(\d+)\)\s*$")


def git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True,
                          capture_output=True).stdout.decode("utf-8", "replace")


def git_bytes(git_dir: str, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True).stdout


def pr_number(subject: str) -> int:
    match = PR_NUMBER.search(subject)
    if match is None:
        raise SystemExit(f"no PR number in {subject!r}")
    return int(match.group(1) or match.group(2))


def build(git_dir: str, repo: str, merge: str, slug: str, corpus: Path) -> Path:
    merge = git(git_dir, "rev-parse", merge).strip()
    parents = git(git_dir, "rev-list", "--parents", "-n1", merge).split()[1:]
    subject = git(git_dir, "log", "-1", "--format=%s", merge).strip()
    if len(parents) == 2:
        base = git(git_dir, "merge-base", parents[0], parents[1]).strip()
        head, style = parents[1], "merge"
        title = git(git_dir, "log", "-1", "--format=%b", merge).strip().splitlines()[:1] or [subject]
        diff = git_bytes(git_dir, "diff", f"{parents[0]}...{parents[1]}")
        mbox = git_bytes(git_dir, "format-patch", "--stdout", "--no-binary", f"{parents[0]}..{parents[1]}")
        commit_range = f"{parents[0]}..{parents[1]}"
    else:
        base, head, style = parents[0], merge, "squash"
        title = [PR_NUMBER.sub("", subject).strip()]
        diff = git_bytes(git_dir, "diff", base, merge)
        mbox = git_bytes(git_dir, "format-patch", "--stdout", "--no-binary", "-1", merge)
        commit_range = f"{base}..{merge}"
    commits = [{"sha": sha, "subject": git(git_dir, "log", "-1", "--format=%s", sha).strip()}
               for sha in git(git_dir, "rev-list", "--reverse", "--no-merges", commit_range).split()]
    case_dir = corpus / "cases" / slug
    case_dir.mkdir(parents=True, exist_ok=True)
    (case_dir / "pr.diff").write_bytes(diff)
    (case_dir / "pr.mbox").write_bytes(mbox)
    changes = [describe(ref.path, ref.side, ref.line, ref.reference, "prefill") for ref in scan_diff(diff)]
    case = {
        "repo": repo, "pr": pr_number(subject), "merge_commit": merge, "merge_style": style,
        "title": title[0], "merged_at": git(git_dir, "log", "-1", "--format=%cI", merge).strip(),
        "base_commit": base, "head_commit": head, "commits": commits, "image_changes": changes,
    }
    case_file = case_dir / "case.json"
    if case_file.exists():  # never overwrite reviewed labels; only the patch files are refreshed
        print(f"kept existing {case_file}", file=sys.stderr)
    else:
        case_file.write_text(json.dumps(case, indent=1) + "\n")
    return case_dir


def main() -> int:
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    git_dir, repo, merge, slug, corpus = sys.argv[1:]
    print(build(git_dir, repo, merge, slug, Path(corpus)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
