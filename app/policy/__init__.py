"""The image policy: the policy file and its defaults, the rules, and the engine that applies them.

Public API::

    from app.policy import load_policy, default_policy, evaluate, EvalContext, CommitInput, Approval

    policy = load_policy(text_or_none)            # never raises; problems in policy.issues
    result = evaluate(refs, files, commits, policy, EvalContext(today=date.today()))
"""

from __future__ import annotations

from app.policy.catalog import ALL_RULES, BY_CODE, BY_NAME, RuleMeta, lookup
from app.policy.config import (
    POLICY_PATH,
    Exemption,
    Policy,
    PolicyError,
    RuleConfig,
    default_policy,
    load_policy,
    parse_policy_strict,
)
from app.policy.context import Approval, CommitInput, EvalContext
from app.policy.engine import Evaluation, evaluate, fingerprint, is_action_required, rules_meta
from app.policy.yamlsource import PolicyIssue

__all__ = [
    "ALL_RULES",
    "BY_CODE",
    "BY_NAME",
    "POLICY_PATH",
    "Approval",
    "CommitInput",
    "EvalContext",
    "Evaluation",
    "Exemption",
    "Policy",
    "PolicyError",
    "PolicyIssue",
    "RuleConfig",
    "RuleMeta",
    "default_policy",
    "evaluate",
    "fingerprint",
    "is_action_required",
    "load_policy",
    "lookup",
    "parse_policy_strict",
    "rules_meta",
]
