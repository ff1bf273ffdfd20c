"""``image-review audit``: every staging image and exemption in the tree at a ref, by urgency."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import TYPE_CHECKING

from app.cli.check import online
from app.cli.common import POLICY_PATH, Exit, SubParsers, add_network_options, parse_date, policy_for, repo_at_ref

if TYPE_CHECKING:
    from app.analysis.audit import AuditReport
    from app.analysis.staging_board import StagingBoard
    from app.policy import Policy


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
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
    audit.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    import json

    from app.analysis.audit import audit_tree, format_audit
    from app.report.dashboard import board_markdown

    repo, rev = repo_at_ref(args)
    policy = policy_for(args, None, repo, rev)
    today = args.today or date.today()
    report = audit_tree(repo, rev, policy, today)
    if args.format == "text":
        sys.stdout.write(format_audit(report, args.format))
    else:
        board = staging_board(report, policy, today, online(args, policy))
        if args.format == "markdown":
            sys.stdout.write(board_markdown(board))
        else:
            body = json.loads(format_audit(report, "json"))
            sys.stdout.write(json.dumps({**body, "staging": board.to_json()}, indent=1) + "\n")
    return Exit.FINDINGS if report.urgent and args.fail_on_urgent else Exit.OK


def staging_board(report: AuditReport, policy: Policy, today: date, ask_registries: bool) -> StagingBoard:
    """The audit's staging images with their promotion state (asked of the registries when online)."""
    import os

    from app.analysis.staging_board import build_board
    from app.cli.check import registry_client

    if not ask_registries:
        return build_board(report, policy, None, today)
    with registry_client(policy, os.environ) as client:
        return build_board(report, policy, client, today)
