"""Render docs/rules.md from the rule modules: ``python -m app.policy.rules_doc > docs/rules.md``.

The rules' table and sections come from each rule's ``META`` and ``DOC``; everything else (common
behaviour, the policy file, exemptions, registry verification) is the hand-written template
app/data/rules-doc-template.md, whose ``{rule_table}`` line becomes the table rows.
tests/test_policy_docs.py fails when the checked-in file is not what this renders.
"""

from __future__ import annotations

import sys
from importlib import resources

from app.policy.catalog import ALL_DOCS
from app.policy.rulemeta import RuleDoc, RuleMeta

TEMPLATE = "data/rules-doc-template.md"
TABLE_MARKER = "{rule_table}\n"


def table_row(meta: RuleMeta, doc: RuleDoc) -> str:
    exemptable = "yes" if meta.exemptable else "no"
    return (
        f"| {meta.code} | [{meta.name}](#{meta.anchor}) | {doc.table_severity} | {doc.table_outside} "
        f"| {exemptable} |\n"
    )


def example(meta: RuleMeta, kind: str, body: str) -> str:
    return f"```diff\n# example: {meta.code} {kind}\n{body}```\n"


def section(meta: RuleMeta, doc: RuleDoc) -> str:
    return (
        f"## {meta.code} {meta.name}\n\n"
        f"**Default severity:** {doc.severity}\n\n"
        f"{doc.text}\n"
        f"**Bad:**\n\n{example(meta, 'bad', doc.bad)}\n"
        f"**Good:**\n\n{example(meta, 'good', doc.good)}\n"
        f"**Configure:** {doc.configure}"
    )


def render(template: str, rules: tuple[tuple[RuleMeta, RuleDoc], ...] = ALL_DOCS) -> str:
    """The whole document: the template with the table filled in, then one section per rule."""
    if template.count(TABLE_MARKER) != 1:
        raise ValueError(f"the rules template needs exactly one {TABLE_MARKER.strip()} line")
    table = "".join(table_row(meta, doc) for meta, doc in rules)
    head = template.replace(TABLE_MARKER, table)
    return head + "\n".join(section(meta, doc) for meta, doc in rules)


def read_template() -> str:
    return resources.files("app").joinpath(TEMPLATE).read_text(encoding="utf-8")


def main() -> int:
    sys.stdout.write(render(read_template()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
