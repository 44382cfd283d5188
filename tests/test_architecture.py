"""The package's shape: no import cycles (deferred imports included), modalities side by side
over a neutral core, and every third-party import declared in pyproject.toml."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "augment"

# Import name -> distribution name, where they differ.
DISTRIBUTIONS = {
    "PIL": "pillow",
    "sklearn": "scikit-learn",
    "imblearn": "imbalanced-learn",
    "yaml": "pyyaml",
    "jinja2": "jinja2",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(augment modules, top-level third-party names) that ``path`` imports, anywhere in it."""
    own: set[str] = set()
    third: set[str] = set()
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if name == "augment" or name.startswith("augment."):
                # the longest prefix that is a module of ours
                parts = name.split(".")
                for cut in range(len(parts), 0, -1):
                    candidate = ".".join(parts[:cut])
                    if candidate in modules and candidate != this:
                        own.add(candidate)
                        break
            elif name and not name.startswith("."):
                third.add(name.split(".")[0])
    return own, third


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    edges = {name: imports_of(path, modules)[0] for name, path in modules.items()}
    # `augment/__init__.py` only names its lazy entry points; importing a submodule runs it
    # first, which is no dependency of the submodule on the entry points.
    edges["augment"] = set()
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, set())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles_deferred_or_not():
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("layer", "must_not_import"),
    [
        ("augment.core", ("augment.tabular", "augment.images", "augment.evaluation",
                          "augment.registry", "augment.steps", "augment.reporting")),
        ("augment.evaluation", ("augment.tabular", "augment.images", "augment.steps")),
        ("augment.tabular", ("augment.images", "augment.steps", "augment.reporting")),
        ("augment.images", ("augment.tabular", "augment.steps", "augment.reporting")),
    ],
)  # fmt: skip
def test_layers_import_only_downwards(layer, must_not_import):
    offenders = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        if module == layer or module.startswith(layer + ".")
        for target in targets
        if any(target == banned or target.startswith(banned + ".") for banned in must_not_import)
    ]
    assert not offenders, offenders


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    names = set()
    for spec in specs:
        name = spec.split(";")[0]
        for sep in "<>=![ ~":
            name = name.split(sep)[0]
        names.add(name.strip().lower().replace("_", "-"))
    return names


def test_every_third_party_import_is_declared():
    modules = all_modules()
    declared = declared_distributions()
    missing = {}
    for name, path in modules.items():
        for top in imports_of(path, modules)[1]:
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            dist = DISTRIBUTIONS.get(top, top).lower().replace("_", "-")
            if dist not in declared:
                missing.setdefault(dist, []).append(name)
    assert not missing, missing


def test_no_private_imports_from_other_packages():
    offenders = []
    for name, path in all_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            parts = node.module.split(".")
            if parts[0] not in ("augment", "__future__") and any(p.startswith("_") for p in parts):
                offenders.append(f"{name}: from {node.module}")
    assert not offenders, offenders
