"""What the commands share: exit codes, the change-input options, the policy to judge by.

Imported by every command module when the parser is built, so it imports nothing heavy: the
analysis, the registry client and the service load inside the functions that need them.
"""

from __future__ import annotations

import argparse
from datetime import date
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.local.inputs import ChangeInput, GitRepo
    from app.policy import Policy

SubParsers = argparse._SubParsersAction  # the type argparse gives add_subparsers()

# Repeated from app.policy and app.report.check_formats (tests/test_cli.py keeps them equal) so
# that building the parser imports neither.
POLICY_PATH = ".github/image-review.yml"
FORMATS = ("github", "json", "sarif", "text")


class Exit(IntEnum):
    """The one exit-code table of every command."""

    OK = 0
    FINDINGS = 1  # check: a finding at --fail-on or worse; audit --fail-on-urgent: something urgent
    USAGE = 2  # bad arguments, unreadable input, invalid policy or settings
    INTERRUPTED = 130


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_input_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--diff", metavar="FILE", help="a unified diff ('-' reads standard input)")
    group.add_argument("--patches", metavar="FILE", help="a git format-patch mailbox ('-' reads standard input)")
    group.add_argument("--git", metavar="RANGE", help="a commit range such as main..HEAD")
    parser.add_argument("--repo", metavar="DIR", default=".", help="the repository for --git (default: .)")


def add_network_options(parser: argparse.ArgumentParser) -> None:
    network = parser.add_mutually_exclusive_group()
    network.add_argument("--online", action="store_true",
                         help="verify against the registries: release tags exist, staging builds were promoted "
                         "(default: off, unless the policy sets registry_verification.cli: true)")
    network.add_argument("--offline", action="store_true",
                         help="ask no registry, even when the policy sets registry_verification.cli: true")


def load_input(args: argparse.Namespace, *, references_only: bool = False) -> ChangeInput:
    """The change the arguments name; references_only: the caller needs no file without a reference."""
    from app.local.inputs import from_diff, from_git, from_patches

    if args.diff is not None:
        return from_diff(args.diff, references_only=references_only)
    if args.patches is not None:
        return from_patches(args.patches)
    return from_git(args.git, args.repo)


def repo_at_ref(args: argparse.Namespace) -> tuple[GitRepo, str]:
    """``--repo`` and ``--ref`` as a repository and a resolved commit; bad ones are usage errors."""
    from app.local.inputs import GitRepo, InputError

    if not Path(args.repo).is_dir():
        raise InputError(f"--repo {args.repo}: no such directory")
    repo = GitRepo(args.repo)
    try:
        return repo, repo.resolve(args.ref)
    except InputError:
        raise InputError(f"bad ref {args.ref!r}: not a commit in {args.repo}") from None


def policy_for(
    args: argparse.Namespace, change: ChangeInput | None, repo: GitRepo | None = None, ref: str | None = None
) -> Policy:
    """--config, else the policy file at the base (git mode), else the defaults. Errors exit 2."""
    from app.local.inputs import InputError
    from app.policy import default_policy

    if args.config:
        try:
            text = Path(args.config).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read --config {args.config}: {exc.strerror or exc}") from None
        return _strict(text, args.config)
    git: GitRepo | None = change.git if change is not None else repo
    rev = change.base if change is not None else ref
    if git is not None and rev is not None:
        base_text = git.show(rev, POLICY_PATH)
        if base_text is not None:
            return _strict(base_text, f"{POLICY_PATH} at {rev[:12]}")
    return default_policy()


def _strict(text: str, source: str) -> Policy:
    from app.local.inputs import InputError
    from app.policy import PolicyError, parse_policy_strict

    try:
        return parse_policy_strict(text, source=source)
    except PolicyError as exc:
        raise InputError(f"invalid policy file {source}:\n" + "\n".join(f"  {i}" for i in exc.issues)) from None
