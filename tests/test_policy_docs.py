"""docs/rules.md documents every rule, is what the rule modules render, and its examples do what they say."""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from tests.test_policy_scenario import run
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from test_policy_scenario import run

from app.policy import ALL_RULES, RuleMeta
from app.policy.catalog import ALL_DOCS, RULE_MODULES
from app.policy.rules.exemptions import parse_directive
from app.policy.rules.families import ALL_FAMILIES
from app.policy.rules_doc import read_template, render
from app.report.sarif import help_uri

DOC = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
EXAMPLE_RE = re.compile(r"```diff\n# example: (IR\d{3}) (bad|good)\n(.*?)```", re.S)


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def section(meta: RuleMeta) -> str:
    text = doc_text()
    start = text.index(f"\n## {meta.code} {meta.name}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def examples() -> list[tuple[str, str, str]]:
    return [(m[1], m[2], m[3]) for m in EXAMPLE_RE.finditer(doc_text())]


@pytest.mark.parametrize("meta", ALL_RULES, ids=lambda m: m.code)
def test_every_rule_is_documented(meta: RuleMeta) -> None:
    body = section(meta)
    for part in ("**Default severity:**", "**What.**", "**Why.**", "**Bad:**", "**Good:**", "**Configure:**"):
        assert part in body, f"{meta.code}: missing {part}"
    severity_line = body.split("**Default severity:**", 1)[1].split("\n", 1)[0]
    assert meta.severity in severity_line
    assert f"# example: {meta.code} bad" in body and f"# example: {meta.code} good" in body
    # The table at the top links the rule's anchor, which SARIF helpUri points at too.
    assert f"| {meta.code} | [{meta.name}](#{meta.anchor}) | {meta.severity}" in doc_text()
    assert help_uri(meta).endswith(f"docs/rules.md#{meta.anchor}")


def test_examples_are_found() -> None:
    found = {(code, kind) for code, kind, _ in examples()}
    assert found == {(m.code, k) for m in ALL_RULES for k in ("bad", "good")}


@pytest.mark.parametrize(("code", "kind", "body"), examples(), ids=lambda x: str(x)[:12])
def test_example(code: str, kind: str, body: str) -> None:
    result = run(body)
    hits = [f for f in result.findings if f.rule == code and f.exempted_by is None]
    if kind == "bad":
        assert hits, f"{code} bad example: no {code} finding; got {[f.rule for f in result.findings]}"
    else:
        assert not hits, f"{code} good example: unexpected {[(f.rule, f.message) for f in hits]}"


def test_docs_are_rendered_from_the_rule_modules() -> None:
    # CI's check that nobody edited docs/rules.md by hand or changed a rule's docs without re-rendering.
    # The message shows the difference: `make docs` overwrites the file, so a hand edit has to move
    # into the rule module (or the template) first.
    rendered, current = render(read_template()), doc_text()
    lines = difflib.unified_diff(current.splitlines(True), rendered.splitlines(True), "docs/rules.md", "rendered")
    diff = "".join(lines)
    assert rendered == current, (
        "docs/rules.md is not what the rule modules render. Edit app/policy/rules/irNNN_<name>.py (a rule's "
        "section) or app/data/rules-doc-template.md (the rest), then run `make docs`.\n" + diff[:4000]
    )


def test_render_command_prints_the_document() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.policy.rules_doc"], capture_output=True, text=True, check=True, cwd=DOC.parents[1]
    )
    assert done.stdout == doc_text()


RULE_FILES = sorted((DOC.parents[1] / "app" / "policy" / "rules").glob("ir[0-9][0-9][0-9]_*.py"))


def test_every_rule_module_is_catalogued_once_in_code_order() -> None:
    names = [m.__name__.rsplit(".", 1)[1] for m in RULE_MODULES]
    assert names == [path.stem for path in RULE_FILES]
    # The module is named for its one rule, so a rule is found by its code or name in the tree.
    assert names == [f"{m.code.lower()}_{m.name.replace('-', '_')}" for m in ALL_RULES]
    assert [m.code for m in ALL_RULES] == sorted({m.code for m in ALL_RULES})


def test_rule_docs_examples_are_bare_scenarios() -> None:
    # The renderer writes the "# example:" line; a module repeating it would put two in the docs.
    for meta, doc in ALL_DOCS:
        for body in (doc.bad, doc.good):
            assert "# example:" not in body, meta.code
            assert body.endswith("\n") and body.startswith("# "), meta.code


def test_template_without_the_table_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="rule_table"):
        render(read_template().replace("{rule_table}\n", ""))


def test_rendered_table_and_section_follow_the_metadata() -> None:
    meta, doc = ALL_DOCS[11]  # IR012: not exemptable
    text = render("# rules\n\n{rule_table}\n", ((meta, doc),))
    assert f"| {meta.code} | [{meta.name}](#{meta.anchor}) | {doc.table_severity} | {doc.table_outside} | no |" in text
    assert f"\n## {meta.code} {meta.name}\n\n**Default severity:** {doc.severity}\n" in text
    assert text.endswith(f"**Configure:** {doc.configure}")


def test_each_rule_module_names_the_family_that_finds_it() -> None:
    pairs = [(meta.code, family.__name__) for family in ALL_FAMILIES for meta in family.RULES]
    assert sorted(code for code, _ in pairs) == [m.code for m in ALL_RULES]  # every rule found, by one family
    finders = dict(pairs)
    for module in RULE_MODULES:
        assert f"Found by ``{finders[module.META.code]}``" in (module.__doc__ or ""), module.__name__


def test_rule_module_examples_are_not_exemptions_of_the_module_itself() -> None:
    # Example lines are single-line string literals: a `# image-review: allow ...` line written
    # bare inside a triple-quoted string reads as a comment of the .py file, and the project's own
    # audit (make selfcheck) would count the bad examples' expired exemptions as its own.
    for path in RULE_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            assert parse_directive(str(path), number, line) is None, f"{path.name}:{number}"
