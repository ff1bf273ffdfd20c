"""Rule families: the modules that find rules' findings.

Each exports ``RULES`` (the metadata of the rules it finds) and ``check(RuleInput) -> RuleOutput``.
A family may find several rules when they share one pass over the references (IR002-IR004 judge
the same tag); each rule's metadata and docs live in its own ``irNNN_<name>`` module.

Rules are pure functions over data: no I/O, no clock (``EvalContext.today``), no GitHub.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from app.policy.context import RuleInput, RuleOutput
from app.policy.rules import (
    change_control,
    change_pattern,
    consistency,
    exemptions,
    generated_output,
    history,
    policy_change,
    registries,
    release_tags,
    staging,
    tags,
)

Check = Callable[[RuleInput], RuleOutput]

# Families that look at the PR's references and files (change_pattern runs separately: it also
# returns the commit summaries and the verdict; exemptions run last, over everyone's findings).
FINDING_FAMILIES: tuple[ModuleType, ...] = (
    staging, tags, registries, consistency, change_control, policy_change, history, release_tags,
    generated_output,
)
ALL_FAMILIES: tuple[ModuleType, ...] = (*FINDING_FAMILIES, change_pattern, exemptions)

__all__ = ["ALL_FAMILIES", "FINDING_FAMILIES", "Check"]
