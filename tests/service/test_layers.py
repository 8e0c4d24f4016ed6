"""The import graph: no cycles in the three packages, and the layers' rules.

Every ``import`` counts, module level and inside functions alike (a deferred import is
still a dependency); only imports under ``if TYPE_CHECKING:`` are left out, as they never
run. Read from the source with ``ast``, so nothing is imported here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shrinknets_core", "studies", "service")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Modules ``tree`` imports when it runs (``TYPE_CHECKING`` blocks skipped)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> nx.DiGraph:
    files = {
        _module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }
    graph = nx.DiGraph()
    for module, path in files.items():
        graph.add_node(module)
        tree = ast.parse(path.read_text("utf-8"))
        for target in _runtime_imports(tree, module, path.name == "__init__.py"):
            if target in files and target != module:
                graph.add_edge(module, target)
    return graph


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return _graph()


def _without_package_inits(graph: nx.DiGraph) -> nx.DiGraph:
    """The graph without ``__init__`` re-exports: a package importing its own modules to
    re-export them, which import siblings through the package, is no design cycle."""
    packages = {m for m in graph if (ROOT / m.replace(".", "/") / "__init__.py").is_file()}
    return graph.subgraph(m for m in graph if m not in packages).copy()


def test_no_import_cycles_between_modules(graph: nx.DiGraph) -> None:
    cycles = list(nx.simple_cycles(_without_package_inits(graph)))
    assert cycles == [], f"import cycles: {cycles}"


def test_storage_decides_nothing_and_imports_only_declarative_studies(
    graph: nx.DiGraph,
) -> None:
    storage = [m for m in graph if m.startswith("service.storage")]
    assert storage
    allowed_studies = {"studies", "studies.spec", "studies.arms", "studies.budget"}
    for module in storage:
        for target in graph.successors(module):
            assert not target.startswith(("service.scheduler", "service.worker",
                                          "service.api", "service.web")), (module, target)
            if target.startswith("studies"):
                assert target in allowed_studies, (module, target)


def test_the_scheduler_is_built_on_storage_and_studies(graph: nx.DiGraph) -> None:
    scheduler = [m for m in graph if m.startswith("service.scheduler")]
    targets = {t for m in scheduler for t in graph.successors(m)}
    assert any(t.startswith("service.storage") for t in targets)
    assert {"studies.sampling", "studies.spec"} <= targets
    assert not any(t.startswith(("service.api", "service.web", "service.worker"))
                   for t in targets)


def test_lower_layers_import_nothing_above_them(graph: nx.DiGraph) -> None:
    for module in graph:
        above = {"shrinknets_core": ("studies", "service"), "studies": ("service",)}.get(
            module.split(".")[0], ())
        for target in graph.successors(module):
            assert not target.startswith(above), (module, target)


def test_the_core_concepts_are_layered(graph: nx.DiGraph) -> None:
    """``network`` ← ``removal`` ← ``training``; ``export`` above the first two."""
    order = ["network", "removal", "training", "export"]
    for module in graph:
        parts = module.split(".")
        if parts[0] != "shrinknets_core" or len(parts) < 2 or parts[1] not in order:
            continue
        later = {f"shrinknets_core.{p}" for p in order[order.index(parts[1]) + 1:]}
        for target in graph.successors(module):
            assert not target.startswith(tuple(later)), (module, target)


def test_storage_has_one_face(graph: nx.DiGraph) -> None:
    """Outside ``service.storage`` its private modules are not imported, the Optuna
    adapter aside (``_optuna_private``: Optuna's private API behind one module)."""
    for module in graph:
        if module.startswith("service.storage"):
            continue
        for target in graph.successors(module):
            if target.startswith("service.storage._"):
                assert target == "service.storage._optuna_private", (module, target)
