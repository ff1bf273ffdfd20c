"""The layers of app/ import only downwards (docs/architecture.md draws the same picture).

Checked on the source with ast, so a wrong import fails here before it tangles anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"

# layer -> the layers it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "policy": {"core"},
    "local": {"core"},
    "registry": {"core", "policy"},
    "report": {"core", "policy", "analysis"},
    "analysis": {"core", "policy", "local", "registry"},
    "jobs": set(),
    "github": {"core", "policy", "registry", "analysis", "report", "jobs"},
    "service": {"core", "policy", "local", "registry", "report", "analysis", "jobs", "github"},
    "testing": {"core", "policy", "local", "registry", "report", "analysis", "jobs", "github", "service"},
    "cli": {"core", "policy", "local", "registry", "report", "analysis", "jobs", "github", "service", "testing"},
}


def imported_layers(source: str) -> list[tuple[int, str]]:
    """(line, layer) for every ``app.<layer>`` import in a module, lazy ones included."""
    out = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "app" else [f"app.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        out += [(node.lineno, n.split(".")[1]) for n in names if n.startswith("app.") and n.count(".") >= 1]
    return out


def violations(root: Path = APP) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if len(rel.parts) < 2:
            continue  # app/__init__.py holds nothing but the docstring
        layer = rel.parts[0]
        allowed = ALLOWED[layer] | {layer}
        for line, target in imported_layers(path.read_text(encoding="utf-8")):
            if target not in allowed:
                found.append(f"app/{rel}:{line}: {layer} imports {target}")
    return found


def test_every_module_sits_in_a_known_layer() -> None:
    layers = {p.name for p in APP.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert layers == set(ALLOWED)


def test_layers_import_only_downwards() -> None:
    assert violations() == []


@pytest.mark.parametrize(("layer", "bad"), [("core", "policy"), ("policy", "registry"), ("github", "service")])
def test_a_wrong_import_is_caught(tmp_path: Path, layer: str, bad: str) -> None:
    (tmp_path / layer).mkdir()
    (tmp_path / layer / "__init__.py").write_text("")
    (tmp_path / layer / "mod.py").write_text(f"def f() -> None:\n    from app.{bad}.x import y\n")
    assert violations(tmp_path) == [f"app/{layer}/mod.py:2: {layer} imports {bad}"]
