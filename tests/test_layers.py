"""Lower layers never import higher ones (DESIGN.md §2)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "desktune"
# layer -> the desktune subpackages it must not import
FORBIDDEN = {
    "data": {"cli", "train", "infer", "report", "models.adapters", "models.load"},
    "models": {"cli", "train", "infer", "data", "report"},
    "config": {"cli", "train", "infer", "data", "models", "report"},
    "hardware": {"cli", "train", "infer", "data", "models", "report", "plan"},
    "plan": {"cli", "train", "infer", "data", "models", "report", "export", "eval"},
    "train": {"cli"},
    "infer": {"cli", "train"},
    "report": {"cli", "train"},
    "ui": {"cli", "train", "data", "models", "plan", "export"},
}


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("desktune."):
            names.add(node.module.removeprefix("desktune."))
        elif isinstance(node, ast.Import):
            names |= {a.name.removeprefix("desktune.") for a in node.names if a.name.startswith("desktune.")}
    return names


@pytest.mark.parametrize("layer", FORBIDDEN)
def test_layer_imports_point_down(layer):
    for path in (PACKAGE / layer).rglob("*.py"):
        bad = {m for m in imported(path) for f in FORBIDDEN[layer] if m == f or m.startswith(f + ".")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_nothing_imports_the_cli():
    for path in PACKAGE.rglob("*.py"):
        if "cli" not in path.relative_to(PACKAGE).parts and path.name != "__main__.py":
            assert not {m for m in imported(path) if m == "cli" or m.startswith("cli.")}, path
