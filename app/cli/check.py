"""What `image-review check` and `image-review audit` do (their options are in app.cli.options)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path

from app.analysis.analyze import AnalysisContext, ChangeSet, analyze
from app.analysis.audit import AuditReport, audit_tree, format_audit
from app.analysis.board_format import board_markdown
from app.analysis.scan import commit_reader
from app.analysis.staging_board import StagingBoard, build_board
from app.core.models import SEVERITY_RANK
from app.local.inputs import ChangeInput, GitRepo, InputError
from app.policy import POLICY_PATH, Policy, PolicyError, default_policy, parse_policy_strict
from app.registry.addresses import AddressPolicy, parse_networks
from app.registry.client import CredentialError, CredentialStore, RegistryClient, RegistryConfig
from app.report.check_formats import FORMATTERS

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def policy_for(args: argparse.Namespace, change: ChangeInput | None, repo: GitRepo | None = None,
               ref: str | None = None) -> Policy:
    """--config, else the policy file at the base (git mode), else the defaults. Errors exit 2."""
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
    try:
        return parse_policy_strict(text, source=source)
    except PolicyError as exc:
        raise InputError(f"invalid policy file {source}:\n" + "\n".join(f"  {i}" for i in exc.issues)) from None


def cmd_check(args: argparse.Namespace) -> int:
    from app.cli import load_input

    change = load_input(args)
    policy = policy_for(args, change)
    git = change.git
    changeset = ChangeSet(
        files=change.files,
        commits=change.commits,
        reader=change.reader,
        policy=policy,
        policy_text=git.show(change.base, POLICY_PATH) if git and change.base else None,
        head_policy_text=git.show(change.head, POLICY_PATH) if git and change.head else None,
        commit_reader=(lambda c: commit_reader(git, c)) if git else None,
        files_are_commits=args.patches is not None,
    )
    context = AnalysisContext(today=args.today or date.today(), head_sha=change.head)
    if online(args, policy):
        with registry_client(policy, os.environ) as client:
            analysis = analyze(changeset, replace(context, offline=False, resolver=client))
    else:
        analysis = analyze(changeset, context)
    sys.stdout.write(FORMATTERS[args.format](analysis))
    if args.fail_on == "never":
        return EXIT_OK
    threshold = SEVERITY_RANK[args.fail_on]
    failing = [f for f in analysis.findings if SEVERITY_RANK[f.severity] >= threshold]
    return EXIT_FINDINGS if failing else EXIT_OK


def online(args: argparse.Namespace, policy: Policy) -> bool:
    """Whether this run asks registries: --online / --offline, else the policy's ``cli`` setting.

    Offline unless asked, so a check gives the same answer with or without a network;
    ``registry_verification.enabled: false`` in the policy wins over --online.
    """
    settings = policy.registry_verification
    if args.online and not settings.enabled:
        print("image-review: --online ignored: the policy sets registry_verification.enabled: false", file=sys.stderr)
    wanted: bool = args.online or (settings.cli and not args.offline)
    return wanted and settings.enabled


def registry_client(policy: Policy, env: Mapping[str, str]) -> RegistryClient:
    """A client for the policy's allow-listed registries; credentials from the environment only."""
    settings = policy.registry_verification
    try:
        credentials = CredentialStore.from_env(env)
    except CredentialError as exc:
        raise InputError(str(exc)) from None
    # Plain-http registries (a local test registry), named by the person running the check.
    insecure = frozenset(env.get("IMAGE_REVIEW_INSECURE_REGISTRIES", "").replace(",", " ").lower().split())
    try:
        # Non-public networks (a local registry, a CI runner's metadata service) are refused
        # unless named here by the person running the check, never by the policy.
        networks = parse_networks(env.get("IMAGE_REVIEW_REGISTRY_PRIVATE_NETWORKS", ""))
    except ValueError as exc:
        raise InputError(f"IMAGE_REVIEW_REGISTRY_PRIVATE_NETWORKS: {exc}") from None
    config = RegistryConfig(
        allowed_hosts=frozenset(settings.allowed_hosts),
        insecure_hosts=insecure,
        credentials=credentials,
        connect_timeout=settings.timeout_seconds,
        read_timeout=settings.timeout_seconds,
        addresses=AddressPolicy(networks),
    )
    return RegistryClient(config)


def cmd_audit(args: argparse.Namespace) -> int:
    if not Path(args.repo).is_dir():
        raise InputError(f"--repo {args.repo}: no such directory")
    repo = GitRepo(args.repo)
    try:
        rev = repo.resolve(args.ref)
    except InputError:
        raise InputError(f"bad ref {args.ref!r}: not a commit in {args.repo}") from None
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
    return EXIT_FINDINGS if report.urgent and args.fail_on_urgent else EXIT_OK


def staging_board(report: AuditReport, policy: Policy, today: date, ask_registries: bool) -> StagingBoard:
    """The audit's staging images with their promotion state (asked of the registries when online)."""
    if not ask_registries:
        return build_board(report, policy, None, today)
    with registry_client(policy, os.environ) as client:
        return build_board(report, policy, client, today)
