"""``image-review audit``: every staging image and exemption in the tree at a ref, by urgency."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from app.cli.common import POLICY_PATH, Exit, SubParsers, parse_date, policy_for


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="list every staging image and exemption in the tree at a ref")
    audit.add_argument("--ref", default="HEAD", help="the commit to audit (default: HEAD)")
    audit.add_argument("--repo", metavar="DIR", default=".")
    audit.add_argument("--config", metavar="FILE", help=f"policy file (default: {POLICY_PATH} at the ref)")
    audit.add_argument("--format", choices=("text", "json"), default="text")
    audit.add_argument("--fail-on-urgent", action="store_true",
                       help="exit 1 when a staging image ships in production or an exemption has expired")
    audit.add_argument("--today", type=parse_date, help=argparse.SUPPRESS)
    audit.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    from app.analysis.audit import audit_tree, format_audit
    from app.local.inputs import GitRepo, InputError

    if not Path(args.repo).is_dir():
        raise InputError(f"--repo {args.repo}: no such directory")
    repo = GitRepo(args.repo)
    try:
        rev = repo.resolve(args.ref)
    except InputError:
        raise InputError(f"bad ref {args.ref!r}: not a commit in {args.repo}") from None
    policy = policy_for(args, None, repo, rev)
    report = audit_tree(repo, rev, policy, args.today or date.today())
    sys.stdout.write(format_audit(report, args.format))
    return Exit.FINDINGS if report.urgent and args.fail_on_urgent else Exit.OK
