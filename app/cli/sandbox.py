"""``image-review sandbox``: watch the App review a sample pull request on a local fake GitHub."""

from __future__ import annotations

import argparse

from app.cli.common import SubParsers


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sandbox", help="watch the App review a sample pull request on a local fake GitHub")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each review")
    parser.set_defaults(func=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from app.testing.sandbox import cmd_sandbox as run

    return run(args)
