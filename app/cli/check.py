"""``image-review check``: judge the image references of a change against the policy."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from app.cli.common import (
    FORMATS,
    POLICY_PATH,
    Exit,
    SubParsers,
    add_input_options,
    add_network_options,
    load_input,
    parse_date,
    policy_for,
)

if TYPE_CHECKING:
    from app.policy import Policy
    from app.registry.client import RegistryClient


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    check = sub.add_parser("check", help="judge the image references of a change against the policy")
    add_input_options(check)
    check.add_argument("--config", metavar="FILE", help=f"policy file (default: {POLICY_PATH} at the base in git "
                       "mode, else the built-in Kubernetes defaults)")
    check.add_argument("--format", choices=FORMATS, default="text")
    check.add_argument("--fail-on", choices=("error", "warning", "never"), default="error",
                       help="exit 1 when a finding of this severity or worse stands (default: error)")
    add_network_options(check)
    check.add_argument("--today", type=parse_date, help=argparse.SUPPRESS)
    check.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from app.analysis.analyze import AnalysisContext, ChangeSet, analyze
    from app.analysis.scan import commit_reader
    from app.core.models import SEVERITY_RANK
    from app.report.check_formats import FORMATTERS

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
        return Exit.OK
    threshold = SEVERITY_RANK[args.fail_on]
    failing = [f for f in analysis.findings if SEVERITY_RANK[f.severity] >= threshold]
    return Exit.FINDINGS if failing else Exit.OK


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
    from app.local.inputs import InputError
    from app.registry.addresses import AddressPolicy, parse_networks
    from app.registry.client import CredentialError, CredentialStore, RegistryClient, RegistryConfig

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


