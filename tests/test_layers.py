"""Data flows one way: lower layers never import higher ones.

From the bottom: config, hardware, plan, models, data, report (the progress and metrics writer the loop uses),
infer, train, then the verbs that use a trained run (eval, which scores with the training loss; export), and at the
top bench, ui, serve (which borrows ui's localhost guard) and cli. Files of the package root (errors, files, runs)
are below them all."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "desktune"
TOP = {"cli", "bench", "ui", "serve"}
# layer -> the desktune subpackages it must not import
FORBIDDEN = {
    "data": TOP | {"train", "infer", "report", "eval", "export", "models.adapters", "models.load"},
    "models": TOP | {"train", "infer", "data", "report", "eval", "export"},
    "config": TOP | {"train", "infer", "data", "models", "report", "eval", "export"},
    "hardware": TOP | {"train", "infer", "data", "models", "report", "plan", "eval", "export"},
    "plan": TOP | {"train", "infer", "data", "models", "report", "export", "eval"},
    "report": TOP | {"train", "infer", "eval", "export"},
    "infer": TOP | {"train", "eval", "export"},
    "train": TOP | {"eval", "export"},
    "eval": TOP | {"export"},
    "export": TOP | {"eval", "train"},  # a sibling of eval: it reads the adapter, never the loop
    "bench": {"cli", "ui"},
    "ui": {"cli", "bench", "train", "data", "models", "plan", "export"},
    "serve": {"cli", "bench", "train", "data", "models", "plan", "export", "eval"},  # a thin app over infer/
}


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("desktune."):
            names.add(node.module.removeprefix("desktune."))
        elif isinstance(node, ast.Import):
            names |= {a.name.removeprefix("desktune.") for a in node.names if a.name.startswith("desktune.")}
    return names


def test_every_subpackage_has_its_place():
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} == set(FORBIDDEN) | {"cli"}


@pytest.mark.parametrize("layer", FORBIDDEN)
def test_layer_imports_point_down(layer):
    for path in (PACKAGE / layer).rglob("*.py"):
        bad = {m for m in imported(path) for f in FORBIDDEN[layer] if m == f or m.startswith(f + ".")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_nothing_imports_the_cli():
    for path in PACKAGE.rglob("*.py"):
        if "cli" not in path.relative_to(PACKAGE).parts and path.name != "__main__.py":
            assert not {m for m in imported(path) if m == "cli" or m.startswith("cli.")}, path
