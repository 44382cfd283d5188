"""The package's shape: no import cycles (deferred imports included), modalities side by side
over a neutral core, and every third-party import declared in pyproject.toml."""

from __future__ import annotations

import ast
import sys
import tomllib

import pytest
from importgraph import ROOT, all_modules, graph, imports_of, parsed

# Import name -> distribution name, where they differ.
DISTRIBUTIONS = {
    "PIL": "pillow",
    "sklearn": "scikit-learn",
    "imblearn": "imbalanced-learn",
    "yaml": "pyyaml",
    "jinja2": "jinja2",
}


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
        for node in ast.walk(parsed(path)):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            parts = node.module.split(".")
            if parts[0] not in ("augment", "__future__") and any(p.startswith("_") for p in parts):
                offenders.append(f"{name}: from {node.module}")
    assert not offenders, offenders
