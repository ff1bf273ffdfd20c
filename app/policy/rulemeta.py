"""What a rule is (``RuleMeta``) and how docs/rules.md documents it (``RuleDoc``).

Each rule module in ``app/policy/rules/ir*.py`` holds one of each; ``app.policy.catalog`` collects them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.core.models import Severity

OutsideProduction = Literal["error", "warning", "notice", "off"]
# How many of a rule's findings are one finding: all of one pull request (per grouping key), or all
# of one file.  See ``app.policy.grouping``.
GroupScope = Literal["pull-request", "file"]


@dataclass(frozen=True, slots=True)
class RuleMeta:
    code: str
    name: str
    severity: Severity
    summary: str  # one line: SARIF shortDescription, docs table
    description: str  # a paragraph: SARIF fullDescription
    # Severity for findings on paths outside production (staging_allowed_paths); None = unchanged.
    outside_production: OutsideProduction | None = None
    # Whether a tracked exemption may accept a finding of this rule.
    exemptable: bool = True
    # A finding of this rule asks a person to act (the App sets the check to action_required).
    action_required: bool = False
    # The policy may disable the rule but not change its severity.
    severity_fixed: bool = False
    # Findings of one cause are reported once: one finding per scope (and per the draft's
    # ``group_key``), anchored on the first reference.  None = one finding per reference.
    group: GroupScope | None = None

    @property
    def anchor(self) -> str:
        """The docs/rules.md heading anchor for ``## IR001 staging-image``."""
        return f"{self.code.lower()}-{self.name}"


@dataclass(frozen=True, slots=True)
class RuleDoc:
    """A rule's section of docs/rules.md, in Markdown; the examples are run by the tests.

    ``bad`` and ``good`` are scenario diffs (``# file:``, ``# commit:``, ``# policy:`` headers, then
    diff lines) without their ``# example: IRnnn bad|good`` line, which the renderer writes.
    """

    severity: str  # the text after **Default severity:**
    text: str  # the **What.** / **Why.** paragraphs (and anything else between them)
    bad: str
    good: str
    configure: str  # the text after **Configure:**
    # The rule's row in the table at the top: the "default severity" and "outside production" cells
    # (they qualify the bare metadata: "error (registry verification)", "warning (docs ignored)", "—").
    table_severity: str
    table_outside: str
