"""The package's layers (docs/ARCHITECTURE.md): lower layers never import upper ones, a
stage never imports another stage, no module uses another module's private names, and the
measure registry is the one list of measures."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

PACKAGE = Path(__file__).resolve().parents[1] / "metareview"

#: what each layer may import from the package (besides itself)
ALLOWED = {
    "engine": {"errors"},
    # engine.derive: the Handbook's SD/SE derivations (standard library) for extraction rows
    "inputs": {"errors", "io", "text", "engine.measures", "engine.derive"},
    "present": {"errors", "io", "text", "engine.measures", "inputs"},
    "plots": {"errors", "text", "figures", "engine.measures", "present", "inputs.rob"},
    "stages": {
        *("errors", "io", "text", "engine", "inputs", "present", "plots", "audit", "manifest"),
        "figures",
    },
    "io": {"errors", "text"},
    "text": set(),
    "figures": set(),  # which figure files a run writes (config `figures`)
    "errors": set(),
    "audit": {"errors", "io", "inputs.protocol"},
    "manifest": {"errors", "io", "text"},
    "cli": {"errors", "io", "text", "engine", "inputs", "present", "manifest"},
    # whole reviews in one process (batch jobs; the report job's last stage)
    "runner": {"errors", "inputs", "manifest", "stages"},
    "metareview": set(),  # the package's __init__
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, ast.parse(path.read_text(encoding="utf-8"))


def imports(tree):
    """(module imported, names taken from it) for every import of the package."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "metareview" or node.module.startswith("metareview."):
                names = [a.name for a in node.names]
                folder = PACKAGE.parent.joinpath(*node.module.split("."))
                submodules = [n for n in names if (folder / f"{n}.py").is_file()]
                for n in submodules:  # from metareview.engine import measures
                    yield f"{node.module}.{n}", []
                rest = [n for n in names if n not in submodules]
                if rest:
                    yield node.module, rest
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("metareview."):
                    yield a.name, []


def permitted(importer: str, imported: str) -> bool:
    own, target = layer_of(importer), imported.removeprefix("metareview.")
    if target.split(".")[0] == own:
        if own == "stages":  # stages share only layout and common
            return target in ("stages", "stages.layout", "stages.common") or importer in (
                "metareview.stages.layout",
                "metareview.stages.common",
            )
        return True
    return any(target == a or target.startswith(a + ".") for a in ALLOWED.get(own, set()))


def test_every_import_respects_the_layers():
    wrong = []
    for name, tree in modules():
        assert layer_of(name) in ALLOWED, f"{name}: layer not in ALLOWED (docs/ARCHITECTURE.md)"
        for imported, _ in imports(tree):
            if not permitted(name, imported):
                wrong.append(f"{name} imports {imported}")
    assert wrong == []


def test_no_private_names_across_modules():
    wrong = [
        f"{name} imports {imported}.{n}"
        for name, tree in modules()
        for imported, names in imports(tree)
        for n in names
        if n.startswith("_") and imported != name
    ]
    assert wrong == []


def test_engine_imports_nothing_but_numpy_scipy_and_itself():
    allowed_roots = {"numpy", "scipy", "metareview", "__future__"}
    wrong = []
    for name, tree in modules():
        if layer_of(name) != "engine":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module.split(".")[0]]
            else:
                continue
            import sys

            for root in roots:
                if root not in allowed_roots and root not in sys.stdlib_module_names:
                    wrong.append(f"{name} imports {root}")
    assert wrong == []


@pytest.mark.parametrize("path", ["protocol.schema.yaml"])
def test_protocol_schema_lists_the_registry_measures(path):
    from metareview.engine import measures

    text = (PACKAGE / "schemas" / path).read_text(encoding="utf-8")
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("enum") and "OR" in node["enum"]:
                found.append(tuple(node["enum"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load(text))
    assert found and all(set(e) == set(measures.PUBLIC) for e in found), found


def test_command_line_offers_the_registry_measures():
    from metareview import cli
    from metareview.engine import measures

    parser = cli.build_parser() if hasattr(cli, "build_parser") else None
    if parser is None:
        pytest.skip("cli has no build_parser")
    choices = next(
        a.choices
        for sub in parser._subparsers._group_actions
        for p in sub.choices.values()
        for a in p._actions
        if "--measure" in a.option_strings
    )
    assert tuple(choices) == measures.PUBLIC
