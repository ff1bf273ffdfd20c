"""docs/rules.md documents every rule, and its examples do what they say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    from tests.test_policy_scenario import run
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from test_policy_scenario import run

from app.policy import ALL_RULES, RuleMeta
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
