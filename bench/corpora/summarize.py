"""Derive the `expected` block of every case.json from its labels and rewrite index.json.

    python bench/corpora/summarize.py bench/corpora/public

Also marks a record `in_comment` when its line is a comment, and `split` when its reference
is assembled from several YAML keys (the reference text does not occur on the labelled
line), as the corpus schema asks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from unidiff.patch import PatchSet

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labels import scope

NOT_COUNTED = ("in_comment", "partial", "repository_only")


def changed_lines(diff: bytes) -> dict[tuple[str, str, int], str]:
    lines: dict[tuple[str, str, int], str] = {}
    for patched in PatchSet(diff.decode("utf-8", "replace")):
        for hunk in patched:
            for line in hunk:
                if line.is_added:
                    lines[(patched.path, "added", int(line.target_line_no or 0))] = line.value
                elif line.is_removed:
                    lines[(patched.source_file[2:], "removed", int(line.source_line_no or 0))] = line.value
    return lines


def is_comment(path: str, text: str) -> bool:
    """A changed line that is wholly a comment (markdown headings are prose, not comments)."""
    stripped = text.strip()
    if stripped.startswith(("//", "/*", "<!--", "--")) or (stripped.startswith("* ") and not path.endswith(".md")):
        return True
    return stripped.startswith("#") and not path.endswith(".md")


def mark_splits(case: dict[str, object], lines: dict[tuple[str, str, int], str]) -> None:
    for record in case["image_changes"]:  # type: ignore[attr-defined]
        number = record["line"] if record["side"] == "added" else record["old_line"]
        text = lines.get((record["file"], record["side"], number))
        if text is None:
            raise SystemExit(f"{case['pr']}: {record['file']}:{number} is not a changed line")
        if record["reference"] not in text and not record.get("split"):
            record["split"] = True
        record["scope"] = scope(record["file"])  # one path rule for every record, pre-filled or not
        if is_comment(record["file"], text) and not record.get("in_comment"):
            record["in_comment"] = True


def expected(case: dict[str, object]) -> dict[str, object]:
    records = [r for r in case["image_changes"] if not any(r.get(f) for f in NOT_COUNTED)]  # type: ignore[attr-defined]
    added = [r for r in records if r["side"] == "added"]
    staging_added = [r for r in added if r["class"] == "staging"]
    return {
        "staging_added": bool(staging_added),
        "staging_added_production": any(r["scope"] == "production" for r in staging_added),
        "staging_added_scopes": sorted({r["scope"] for r in staging_added}),
        "staging_removed": any(r["class"] == "staging" for r in records if r["side"] == "removed"),
        "release_refs_added_without_stable_tag": sorted({r["reference"] for r in added
                                                         if r["class"] == "release" and r["tag_stable"] is False}),
        "floating_tags_added": sorted({r["reference"] for r in added if r["tag_kind"] == "floating"}),
    }


def main() -> int:
    corpus = Path(sys.argv[1])
    index = []
    for case_file in sorted(corpus.glob("cases/*/case.json")):
        case = json.loads(case_file.read_text())
        mark_splits(case, changed_lines((case_file.parent / "pr.diff").read_bytes()))
        case["expected"] = expected(case)
        case_file.write_text(json.dumps(case, indent=1) + "\n")
        index.append({"slug": case_file.parent.name, "repo": case["repo"], "pr": case["pr"],
                      "merge_commit": case["merge_commit"], "merge_style": case["merge_style"],
                      "title": case["title"], "merged_at": case["merged_at"], "n_commits": len(case["commits"]),
                      "n_image_changes": len(case["image_changes"]), "expected": case["expected"]})
    (corpus / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"{len(index)} cases, {sum(int(c['n_image_changes']) for c in index)} labels")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
