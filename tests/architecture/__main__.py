"""Print the graph of layers that ``test_layers`` holds: ``python -m tests.architecture``.

Each line is one layer (a subpackage of ``shared``, ``functions``, ``cli``, ``devhost``), the
layers it imports, and how many imports go to each: the picture ``docs/architecture.md`` draws.
"""

from __future__ import annotations

from collections import Counter

from tests.architecture.test_layers import BASE, LAYERS, PACKAGES, modules, within

GROUPS = (*LAYERS, "shared.uid_index.cosmos", *BASE, "shared.clients", "shared.provisioning")


def layer_of(module: str) -> str:
    """The most specific group ``module`` is in: a layer of ``shared``, or its top package."""
    found = [g for g in GROUPS if within(module, g)]
    return max(found, key=len) if found else module.split(".")[0]


def main() -> None:
    graph = modules(*PACKAGES)
    edges: dict[str, Counter[str]] = {}
    for module, targets in graph.items():
        source = layer_of(module)
        for target in targets:
            if target in graph and layer_of(target) != source:
                edges.setdefault(source, Counter())[layer_of(target)] += 1
    for source in sorted({layer_of(m) for m in graph}):
        counts = edges.get(source, Counter())
        listed = ", ".join(f"{t} ({n})" for t, n in sorted(counts.items()))
        print(f"{source} -> {listed or 'nothing of the project'}")


if __name__ == "__main__":
    main()
