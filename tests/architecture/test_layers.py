"""The layering of docs/architecture.md, read from the code's own imports.

Each module's imports are parsed with ``ast`` (no module is imported), so a rule is broken by
writing the import, not only by running it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "functions", "cli", "devhost")
ADAPTER = "shared.uid_index.cosmos"

BASE = ("shared.config", "shared.errors", "shared.failure_log")
"""Settings, the DICOMweb error vocabulary and failure logging: importable from every layer."""

LAYERS: dict[str, tuple[str, ...]] = {
    "shared.dicom": BASE,
    "shared.pixels": (*BASE, "shared.dicom"),
    "shared.auth": BASE,
    "shared.storage": BASE,
    "shared.uid_index": (*BASE, "shared.dicom", "shared.storage"),
    "shared.web": (*BASE, "shared.dicom", "shared.pixels", "shared.storage.errors"),
    "shared.services": (
        *BASE,
        "shared.dicom",
        "shared.pixels",
        "shared.auth",
        "shared.storage",
        "shared.uid_index",
        "shared.web",
        "shared.clients",
    ),
}
"""What each subpackage of ``shared`` may import from the others (docs/architecture.md)."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute, whether at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.level:
                base = module_name(path).split(".")[: -node.level]
                found.add(".".join([*base, node.module]))
            else:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(*packages: str) -> dict[str, set[str]]:
    return {
        module_name(path): imports(path)
        for package in packages
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def offenders(graph: dict[str, set[str]], forbidden: str, allowed: str | None = None) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if allowed is None or not within(module, allowed)
        for target in targets
        if within(target, forbidden)
    )


def test_the_parser_sees_the_adapter_s_imports() -> None:
    source = ROOT / "shared" / "uid_index" / "cosmos" / "index.py"
    assert "azure.cosmos.aio" in imports(source)
    assert "shared.uid_index.cosmos.sql" in imports(source)


def test_only_the_adapter_speaks_cosmos_db() -> None:
    assert offenders(modules(*PACKAGES), "azure.cosmos", allowed=ADAPTER) == []


@pytest.mark.parametrize(
    "web", ["functions", "starlette", "fastapi", "azure.functions", "azurefunctions"]
)
def test_shared_never_imports_the_http_layer(web: str) -> None:
    assert offenders(modules("shared"), web) == []


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_layer_imports_only_the_layers_below_it(layer: str) -> None:
    graph = {m: targets for m, targets in modules("shared").items() if within(m, layer)}
    assert graph, f"no modules in {layer}"
    allowed = (layer, *LAYERS[layer])
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if within(target, "shared") and target != "shared"
        if not any(within(target, a) for a in allowed)
    )
    assert wrong == []


def test_every_module_of_shared_is_in_a_layer() -> None:
    roots = {*LAYERS, *BASE, "shared", "shared.clients", "shared.provisioning"}
    assert [m for m in modules("shared") if not any(within(m, r) for r in roots)] == []


def test_services_reach_the_adapter_only_through_the_clients() -> None:
    """The adapter is chosen in one place; everything else speaks ``Index``."""
    graph = modules(*PACKAGES)
    users = {m for m, targets in graph.items() if any(within(t, ADAPTER) for t in targets)}
    assert {m for m in users if not within(m, ADAPTER)} == {"shared.clients"}


def test_the_index_interface_knows_no_implementation() -> None:
    graph = modules("shared")
    interface = graph["shared.uid_index.index"]
    assert not [t for t in interface if within(t, ADAPTER) or within(t, "azure")]


def test_no_module_imports_itself_through_others() -> None:
    """No import cycles among the project's modules (a cycle hides which layer owns what)."""
    graph = modules(*PACKAGES)
    edges = {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for target in sorted(edges[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])
    assert cycles == []


def test_functions_speak_the_services_not_the_index() -> None:
    """``functions/`` turn requests into service calls; index types stay below the services."""
    assert offenders(modules("functions"), "shared.uid_index") == []
