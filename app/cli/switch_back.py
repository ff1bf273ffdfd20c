"""`image-review switch-back`: the image-only change back to promoted release images, without the App.

It audits the tree at ``--ref`` (HEAD), asks the registries which staging builds were promoted
(the same digest under the release name), and prints the change as a unified diff, or with
``--write`` applies it to the work tree. Nothing but the image references changes.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from app.cli.common import POLICY_PATH, Exit, SubParsers, parse_date, policy_for, repo_at_ref


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser("switch-back", help="switch promoted staging images back to their release images")
    cmd.add_argument("--repo", metavar="DIR", default=".", help="the repository (default: .)")
    cmd.add_argument("--ref", default="HEAD", help="the commit whose staging images are looked at (default: HEAD)")
    cmd.add_argument("--config", metavar="FILE", help=f"policy file (default: {POLICY_PATH} at the ref)")
    cmd.add_argument("--write", action="store_true", help="apply the change to the work tree instead of printing it")
    cmd.add_argument("--today", type=parse_date, help=argparse.SUPPRESS)
    cmd.set_defaults(func=cmd_switch_back)


def cmd_switch_back(args: argparse.Namespace) -> int:
    import os

    from app.analysis.audit import audit_tree
    from app.analysis.staging_board import build_board
    from app.analysis.switch_back import apply_edits, edits_by_path, plan_switch_back, unified_diff
    from app.cli.check import registry_client
    from app.local.inputs import InputError

    repo, rev = repo_at_ref(args)
    policy = policy_for(args, None, repo, rev)
    if not policy.registry_verification.enabled:
        raise InputError("switch-back needs the registries (is the build promoted?), but the policy sets "
                         "registry_verification.enabled: false")
    today = args.today or date.today()
    report = audit_tree(repo, rev, policy, today)
    with registry_client(policy, os.environ) as client:
        board = build_board(report, policy, client, today)
    root = Path(repo.root)
    plan = plan_switch_back(board, lambda path: repo.show(rev, path))
    for row, why in plan.skipped:
        print(f"image-review: skipped {row.ref.path}:{row.ref.line} {row.ref.reference}: {why}", file=sys.stderr)
    if not plan.changes:
        print("image-review: no promoted staging image to switch back", file=sys.stderr)
        return Exit.OK
    for change in plan.changes:
        print(f"image-review: {change.staging_name} -> {', '.join(change.release_names)}: "
              f"{len(change.edits)} line(s) in {len(change.paths)} file(s)", file=sys.stderr)
    for path, edits in sorted(edits_by_path(plan.changes).items()):
        before = _read(root / path) or ""
        try:
            after = apply_edits(before, edits)
        except ValueError as exc:
            raise InputError(f"{exc} (the work tree differs from {args.ref}; commit or stash first)") from None
        if args.write:
            (root / path).write_text(after, encoding="utf-8")
        else:
            sys.stdout.write(unified_diff(path, before, after))
    return Exit.OK


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
