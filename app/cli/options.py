"""The options of `image-review check` and `image-review audit`.

Building the parser imports nothing heavy, so `image-review scan` starts fast; the commands
themselves live in app.cli.check.
"""

from __future__ import annotations

import argparse
from datetime import date

POLICY_PATH = ".github/image-review.yml"
FORMATS = ("github", "json", "sarif", "text")


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _cmd_check(args: argparse.Namespace) -> int:
    from app.cli.check import cmd_check

    return cmd_check(args)


def _cmd_audit(args: argparse.Namespace) -> int:
    from app.cli.check import cmd_audit

    return cmd_audit(args)


def add_network_options(parser: argparse.ArgumentParser) -> None:
    network = parser.add_mutually_exclusive_group()
    network.add_argument("--online", action="store_true",
                         help="verify against the registries: release tags exist, staging builds were promoted "
                         "(default: off, unless the policy sets registry_verification.cli: true)")
    network.add_argument("--offline", action="store_true",
                         help="ask no registry, even when the policy sets registry_verification.cli: true")


def register_check(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from app.cli import add_input_options

    check = sub.add_parser("check", help="judge the image references of a change against the policy")
    add_input_options(check)
    check.add_argument("--config", metavar="FILE", help=f"policy file (default: {POLICY_PATH} at the base in git "
                       "mode, else the built-in Kubernetes defaults)")
    check.add_argument("--format", choices=FORMATS, default="text")
    check.add_argument("--fail-on", choices=("error", "warning", "never"), default="error",
                       help="exit 1 when a finding of this severity or worse stands (default: error)")
    add_network_options(check)
    check.add_argument("--today", type=parse_date, help=argparse.SUPPRESS)
    check.set_defaults(func=_cmd_check)


def register_audit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="list every staging image and exemption in the tree at a ref")
    audit.add_argument("--ref", default="HEAD", help="the commit to audit (default: HEAD)")
    audit.add_argument("--repo", metavar="DIR", default=".")
    audit.add_argument("--config", metavar="FILE", help=f"policy file (default: {POLICY_PATH} at the ref)")
    audit.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                       help="markdown: the staging-images dashboard; json adds its rows under 'staging'")
    add_network_options(audit)
    audit.add_argument("--fail-on-urgent", action="store_true",
                       help="exit 1 when a staging image ships in production or an exemption has expired")
    audit.add_argument("--today", type=parse_date, help=argparse.SUPPRESS)
    audit.set_defaults(func=_cmd_audit)
