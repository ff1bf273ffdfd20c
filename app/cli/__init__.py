"""The ``image-review`` command: the parser and ``main``; one module per command.

Every command module registers its subcommand from light imports only (app.cli.common) and
imports what its command needs inside the command, so ``image-review scan`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from app.cli import audit, check, sandbox, scan, serve, switch_back
from app.cli.common import Exit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="image-review",
        description="Review container-image changes: staging vs release, explicit versions, two-step changes.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (scan.register, check.register, audit.register, switch_back.register, serve.register_serve,
                     serve.register_worker, sandbox.register):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from app.local.inputs import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(func(args))
    except InputError as exc:
        print(f"image-review: {exc}", file=sys.stderr)
        return Exit.USAGE
    except BrokenPipeError:
        return Exit.OK
    except KeyboardInterrupt:
        return Exit.INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
