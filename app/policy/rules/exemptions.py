"""Tracked exceptions: IR012 exemption-invalid, IR013 exemption-expired, and applying exemptions.

An exemption accepts a finding (lowered to a notice, ``exempted_by`` set) only while it names a
tracking issue and has not expired.  Two forms:

* inline, on the finding's line or the line above, in the file's comment syntax::

      # image-review: allow staging-image until 2026-12-31 tracked-by #1234 -- waiting for promotion
      // image-review: allow IR001,mutable-tag until 2026-12-31 tracked-by #1234
      <!-- image-review: allow staging-image until 2026-12-31 tracked-by #1234 -->

* the policy file's ``exemptions:`` list (path and/or reference globs).

Malformed exemptions are errors (never silently ignored); an expired exemption, or one whose
tracking issue is closed, is an error naming it, and the finding it would accept stays as it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from fnmatch import fnmatchcase

from app.core.comment_syntax import comment_start
from app.core.diffs import FileDiff
from app.policy.catalog import EXEMPTION_EXPIRED, EXEMPTION_INVALID, RuleMeta, lookup
from app.policy.config import Exemption, Policy, parse_date, parse_issue_number
from app.policy.context import Draft, RuleInput, RuleOutput
from app.policy.paths import PathGlob

RULES: tuple[RuleMeta, ...] = (EXEMPTION_INVALID, EXEMPTION_EXPIRED)
DIRECTIVE = "image-review:"
USAGE = "image-review: allow <rule>[,<rule>] until <YYYY-MM-DD> tracked-by #<issue> [-- reason]"


@dataclass(frozen=True, slots=True)
class InlineDirective:
    path: str
    line: int
    text: str
    exemption: Exemption | None  # None when malformed
    error: str | None = None


def parse_directive(path: str, line: int, text: str) -> InlineDirective | None:
    """The ``image-review:`` directive in a comment on this line, or None if there is none."""
    start = comment_start(path, text, DIRECTIVE)
    if start is None:
        return None
    body = text[text.index(DIRECTIVE, start) + len(DIRECTIVE) :]
    body = re.sub(r"\s*(?:-->|\*/)\s*$", "", body).strip()
    exemption, error = _parse_body(body, path, line)
    return InlineDirective(path, line, text.strip(), exemption, error)


def _parse_body(body: str, path: str, line: int) -> tuple[Exemption | None, str | None]:
    body, _, reason = body.partition(" -- ")
    tokens = body.split()
    if not tokens or tokens[0].lower() != "allow":
        return None, f"expected `{USAGE}`"
    rule_words: list[str] = []
    i = 1
    while i < len(tokens) and tokens[i].lower() not in ("until", "tracked-by"):
        rule_words.append(tokens[i])
        i += 1
    names = [n for n in " ".join(rule_words).replace(",", " ").split() if n]
    if not names:
        return None, f"names no rule; expected `{USAGE}`"
    codes: list[str] = []
    for name in names:
        meta = lookup(name)
        if meta is None:
            return None, f"unknown rule `{name}`"
        if not meta.exemptable:
            return None, f"{meta.code} ({meta.name}) cannot be exempted"
        codes.append(meta.code)
    until: date | None = None
    issue: int | None = None
    while i < len(tokens):
        word = tokens[i].lower()
        value = tokens[i + 1] if i + 1 < len(tokens) else None
        if word == "until":
            until = parse_date(value) if value else None
            if until is None:
                return None, f"`until` needs a date YYYY-MM-DD (got `{value or ''}`)"
        elif word == "tracked-by":
            issue = parse_issue_number(value) if value and value.startswith("#") else None
            if issue is None:
                return None, f"`tracked-by` needs an issue number such as #1234 (got `{value or ''}`)"
        else:
            return None, f"unexpected `{tokens[i]}`; expected `{USAGE}`"
        i += 2
    if until is None:
        return None, "missing `until <YYYY-MM-DD>`: exemptions must expire"
    if issue is None:
        return None, "missing `tracked-by #<issue>`: exemptions must name a tracking issue"
    return Exemption(tuple(codes), issue, until, reason.strip(), None, None, "inline", path, line), None


def find_directives(inp: RuleInput) -> dict[tuple[str, int], InlineDirective]:
    """Directives on added and context lines (new side), by (path, line)."""
    return directives_in(inp.files)


def tracking_issues(files: Sequence[FileDiff], policy: Policy) -> set[int]:
    """The issue numbers the exemptions of this change name (inline and in the policy): what
    the caller looks up before evaluation, so the rule itself does no I/O."""
    inline = {d.exemption.issue for d in directives_in(files).values() if d.exemption is not None}
    return inline | {ex.issue for ex in policy.exemptions}


def directives_in(files: Sequence[FileDiff]) -> dict[tuple[str, int], InlineDirective]:
    out: dict[tuple[str, int], InlineDirective] = {}
    for f in files:
        if f.new_path is None:
            continue
        for hunk in f.hunks:
            for line in hunk.lines:
                if line.kind == "-" or line.new_no is None or DIRECTIVE not in line.text:
                    continue
                d = parse_directive(f.new_path, line.new_no, line.text)
                if d is not None:
                    out[(f.new_path, line.new_no)] = d
    return out


def _added_lines(inp: RuleInput) -> set[tuple[str, int]]:
    return {
        (f.new_path, line.new_no)
        for f in inp.files
        if f.new_path is not None
        for hunk in f.hunks
        for line in hunk.lines
        if line.kind == "+" and line.new_no is not None
    }


def _familiar(reference: str) -> str:
    """``docker.io/library/python:3.12`` → ``python:3.12``: people write Docker Hub names short."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if reference.startswith(prefix):
            return reference[len(prefix) :]
    return reference


def covers(ex: Exemption, rule: str, path: str, reference: str) -> bool:
    """Whether a policy-file exemption covers a finding of `rule` (a code) at `path` on
    `reference`: the one matcher of ``check`` (here) and ``audit`` (app.analysis.audit).

    The path is a policy path glob (a directory covers what is below it); the reference a
    case-insensitive glob, also tried on the short Docker Hub name people write."""
    if rule not in ex.rules:
        return False
    if ex.path is not None and not PathGlob.parse(ex.path).matches(path):
        return False
    if ex.reference is None:
        return True
    pattern = ex.reference.lower()
    reference = reference.lower()
    return fnmatchcase(reference, pattern) or fnmatchcase(_familiar(reference), pattern)


def covers_inline(ex: Exemption, rule: str, line: int) -> bool:
    """Whether an inline exemption written at `ex.line` covers a finding of `rule` on `line`
    (its own line or the one below it)."""
    return rule in ex.rules and ex.line in (line, line - 1)


def apply(drafts: Sequence[Draft], inp: RuleInput) -> RuleOutput:
    """Accept drafts covered by a valid exemption; report malformed and expired ones.

    Returns every draft (accepted ones lowered to notices) plus the new IR012/IR013 drafts.
    """
    out = RuleOutput()
    directives = find_directives(inp)
    added = _added_lines(inp)
    reported_invalid: set[tuple[str, int]] = set()

    def report_invalid(d: InlineDirective) -> None:
        if (d.path, d.line) in reported_invalid:
            return
        reported_invalid.add((d.path, d.line))
        out.drafts.append(Draft(
            EXEMPTION_INVALID, d.path, d.line,
            f"This exemption is malformed and is not applied: {d.error}. Write `{USAGE}`.",
            d.text,
        ))

    for key, d in sorted(directives.items()):
        if d.exemption is None and key in added:
            report_invalid(d)

    unchecked: set[int] = set()
    for draft in drafts:
        if not draft.meta.exemptable or not draft.path:
            out.drafts.append(draft)
            continue
        candidates: list[Exemption] = []
        if draft.side == "added" and draft.line is not None:
            for at in (draft.line, draft.line - 1):
                found = directives.get((draft.path, at))
                if found is None:
                    continue
                if found.exemption is None:
                    report_invalid(found)
                elif draft.meta.code in found.exemption.rules:
                    candidates.append(found.exemption)
        candidates.extend(
            ex for ex in inp.policy.exemptions if covers(ex, draft.meta.code, draft.path, draft.reference)
        )
        accepted: Exemption | None = None
        for ex in candidates:
            problem = _problem(ex, inp, unchecked)
            if problem is None:
                accepted = ex
                break
            out.drafts.append(Draft(
                EXEMPTION_EXPIRED, draft.path, draft.line,
                f"The exemption for {draft.meta.name} here is no longer valid: {ex.describe()} {problem}. "
                "Fix the finding, or renew the exemption with a new date and an open tracking issue.",
                # Stable across pushes: which exemption, not where it currently sits.
                f"{draft.reference}|{ex.origin}|#{ex.issue}|{ex.expires.isoformat()}",
                side=draft.side, commit=draft.commit,
            ))
        if accepted is not None:
            # Accepted: still visible, as a notice that names the exemption.
            draft = replace(draft, severity="notice", exempted_by=accepted.describe())
        out.drafts.append(draft)
    if unchecked:
        issues = ", ".join(f"#{n}" for n in sorted(unchecked))
        why = "was not checked" if inp.context.issue_states is None else "could not be determined"
        out.notes.append(f"The state of tracking issue(s) {issues} {why}; their exemptions were taken as valid.")
    return out


def _problem(ex: Exemption, inp: RuleInput, unchecked: set[int]) -> str | None:
    today = inp.context.today
    if today > ex.expires:
        return f"expired on {ex.expires.isoformat()}"
    states = inp.context.issue_states
    state = states.get(ex.issue) if states is not None else None
    if state == "closed":
        return f"its tracking issue #{ex.issue} is closed"
    if state is None:
        unchecked.add(ex.issue)
    return None
