"""``image-review scan``: list the image references a change adds or removes."""

from __future__ import annotations

import argparse
import json
import os
import sys

from app.cli.common import Exit, SubParsers, add_input_options, load_input


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    scan = sub.add_parser("scan", help="list the image references a change adds or removes")
    add_input_options(scan)
    scan.add_argument("--format", choices=("text", "json"), default="text")
    scan.set_defaults(func=cmd_scan)


def cmd_scan(args: argparse.Namespace) -> int:
    from app.analysis.parallel_scan import scan_diff_file
    from app.analysis.scan import scan_change
    from app.core.classify import default_classifier
    from app.report.scan_text import format_references

    if args.diff not in (None, "-") and os.path.isfile(args.diff):
        refs = scan_diff_file(args.diff, default_classifier())
    else:
        refs = scan_change(load_input(args, references_only=True))
    if args.format == "json":
        json.dump({"references": [r.to_json() for r in refs]}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_references(refs))
    return Exit.OK
