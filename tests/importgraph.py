"""The package's static import graph, shared by the architecture and the DVC pipeline tests.

An edge ``a -> b`` means module ``a`` imports ``b`` somewhere (deferred imports included), so a
change to ``b`` can change what ``a`` does. :func:`command_modules` closes the graph over what
one ``augment`` command runs: the code a DVC stage that runs that command depends on.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "augment"

# The registry imports each model's class by name (importlib), which no import statement shows;
# a module that takes one of these names from it can reach every registered model's module.
MODEL_ACCESS = {
    "MODELS",
    "ModelSpec",
    "model_spec",
    "resolve_model",
    "make_synthesizer",
    "load_synthesizer",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


@functools.cache
def parsed(path: Path) -> ast.Module:
    """The module's syntax tree, parsed once per session."""
    return ast.parse(path.read_text(encoding="utf-8"))


def imports_of(path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(augment modules, top-level third-party names) that ``path`` imports, anywhere in it."""
    own: set[str] = set()
    third: set[str] = set()
    for node in ast.walk(parsed(path)):
        mine, theirs = _imported(node, path, modules)
        own |= mine
        third |= theirs
    return own, third


def _imported(node: ast.AST, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """What one import statement imports: (augment modules, top-level third-party names)."""
    if not isinstance(node, ast.Import | ast.ImportFrom):
        return set(), set()  # most nodes: nothing to name the module for (ast.walk visits all)
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    own: set[str] = set()
    third: set[str] = set()
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
    """A fresh copy each call: callers add edges to theirs."""
    return {name: set(targets) for name, targets in _graph().items()}


@functools.cache
def _graph() -> dict[str, frozenset[str]]:
    """Built once per session (the package does not change under the tests)."""
    modules = all_modules()
    edges = {name: frozenset(imports_of(path, modules)[0]) for name, path in modules.items()}
    # `augment/__init__.py` only names its lazy entry points; importing a submodule runs it
    # first, which is no dependency of the submodule on the entry points.
    edges["augment"] = frozenset()
    return edges


def runtime_graph() -> dict[str, set[str]]:
    """:func:`graph` plus what importing runs without an import statement saying so: a
    module's parent packages, and the models the registry imports by name."""
    edges = graph()
    model_modules = _registered_model_modules()
    for name, path in all_modules().items():
        if _takes_model_access(path):
            edges[name] |= model_modules
        parent = name.rpartition(".")[0]
        if parent:
            edges[name].add(parent)
    return edges


def closure(start: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(edges.get(module, ()))
    return seen


@functools.cache
def command_modules(command: str) -> frozenset[str]:
    """The modules ``augment <command>`` can run: what ``augment.cli`` imports at its top level
    and in the command's function, closed over the runtime import graph."""
    modules = all_modules()
    tree = parsed(PACKAGE / "cli.py")
    functions = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    if command not in functions:
        raise KeyError(f"augment/cli.py has no command function {command!r}")
    statements = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    statements += [
        n for n in ast.walk(functions[command]) if isinstance(n, ast.Import | ast.ImportFrom)
    ]
    start = {"augment.cli"}
    for statement in statements:
        start |= _imported(statement, PACKAGE / "cli.py", modules)[0]
    edges = runtime_graph()
    edges["augment.cli"] = {"augment"}  # cli's own imports are the statements above
    return frozenset(closure(start, edges))


def module_files(names: set[str] | frozenset[str]) -> set[str]:
    """Repository-relative paths (``augment/core/files.py``) of modules."""
    modules = all_modules()
    return {modules[name].relative_to(ROOT).as_posix() for name in names}


def _registered_model_modules() -> set[str]:
    from augment.registry import MODELS

    return {spec.module for spec in MODELS.values()}


def _takes_model_access(path: Path) -> bool:
    for node in ast.walk(parsed(path)):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "augment.registry"
            and {alias.name for alias in node.names} & (MODEL_ACCESS | {"*"})
        ):
            return True
        if isinstance(node, ast.Import) and any(a.name == "augment.registry" for a in node.names):
            return True  # the whole module: any name
    return False


def as_deps(files: set[str]) -> list[str]:
    """``files`` as a short list of DVC dependencies: a package folder where every module under
    it is in ``files``, the file otherwise (sorted, folders first where they sort so)."""
    folders = sorted(
        {str(Path(f).parent.as_posix()) for f in files},
        key=lambda folder: folder.count("/"),
    )
    chosen: list[str] = []
    covered: set[str] = set()
    for folder in folders:
        if folder == PACKAGE.name or any(folder.startswith(c + "/") for c in chosen):
            continue
        inside = {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*.py")}
        if inside <= files:
            chosen.append(folder)
            covered |= inside
    return sorted(chosen + sorted(files - covered))
