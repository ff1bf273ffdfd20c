"""The `image-review` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from app.analysis.scan import scan_change
from app.local.inputs import ChangeInput, InputError, from_diff, from_git, from_patches
from app.report.scan_text import format_references

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def add_input_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--diff", metavar="FILE", help="a unified diff ('-' reads standard input)")
    group.add_argument("--patches", metavar="FILE", help="a git format-patch mailbox ('-' reads standard input)")
    group.add_argument("--git", metavar="RANGE", help="a commit range such as main..HEAD")
    parser.add_argument("--repo", metavar="DIR", default=".", help="the repository for --git (default: .)")


def load_input(args: argparse.Namespace) -> ChangeInput:
    if args.diff is not None:
        return from_diff(args.diff)
    if args.patches is not None:
        return from_patches(args.patches)
    return from_git(args.git, args.repo)


def cmd_scan(args: argparse.Namespace) -> int:
    change = load_input(args)
    refs = scan_change(change)
    if args.format == "json":
        json.dump({"references": [r.to_json() for r in refs]}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_references(refs))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="image-review",
        description="Review container-image changes: staging vs release, explicit versions, two-step changes.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scan = sub.add_parser("scan", help="list the image references a change adds or removes")
    add_input_options(scan)
    scan.add_argument("--format", choices=("text", "json"), default="text")
    scan.set_defaults(func=cmd_scan)
    for register in command_registrars():
        register(sub)
    return parser


Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def command_registrars() -> list[Registrar]:
    """The other subcommands; each module keeps its heavy imports inside its command."""
    from app.cli.options import register_audit, register_check
    from app.cli.serve import register_sandbox, register_serve, register_worker
    from app.cli.switch_back import register_switch_back

    return [register_check, register_audit, register_switch_back, register_serve, register_worker, register_sandbox]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except InputError as exc:
        print(f"image-review: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
