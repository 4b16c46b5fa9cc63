"""Every import points down a floor, and no modules import each other in a circle.

The floors (README, "Layout"; CONTRIBUTING): the ground `mmstream.core` (settings, Kafka client
config and admin, topics, logging, errors, health, dead-letter format, runtime) imports nothing
else of the project; `schemas` (Avro files and serde) stands on it alone; `connectors` and
`processors` stand on both and never import each other; the embedded stack, the embedded
registry and the simulators stand apart on the ground, for the roof and the tests only; the
roof (`mmstream.cli`, `mmstream.pipeline` = `mmstream up`, `mmstream.view`) may use them all.
Tests and benchmarks may import anything, but nothing imports them.

Every import counts, wherever it is written (a function's lazy import, `TYPE_CHECKING`), since
each is a dependency of the importing module. The module graph is read with `ast`, nothing
is imported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("mmstream", "connectors", "processors", "schemas", "tests", "bench")

GROUND = "mmstream.core"
APART = ("mmstream.stack", "mmstream.registry", "mmstream.simulators")
ROOF = ("mmstream.cli", "mmstream.pipeline", "mmstream.view")
# room -> the rooms it may import (besides itself)
MAY_IMPORT: dict[str, frozenset[str]] = {
    GROUND: frozenset(),
    "mmstream": frozenset(),  # the package's own __init__: a version string
    "schemas": frozenset({GROUND}),
    "connectors": frozenset({GROUND, "schemas"}),
    "processors": frozenset({GROUND, "schemas"}),
    **{room: frozenset({GROUND}) for room in APART},
    **{
        room: frozenset({GROUND, "schemas", "connectors", "processors", *APART, *ROOF})
        for room in ROOF
    },
    "tests": frozenset(
        {GROUND, "mmstream", "schemas", "connectors", "processors", *APART, *ROOF, "bench"}
    ),
    "bench": frozenset(
        {GROUND, "mmstream", "schemas", "connectors", "processors", *APART, *ROOF, "tests"}
    ),
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules = {}
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            if not any(part.startswith(".") for part in path.relative_to(ROOT).parts):
                modules[module_name(path)] = path
    return modules


def resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The project modules `module` imports: `from a import b` is `a.b` when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    relative = str(path.relative_to(ROOT))
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = resolve(node, module, path.name == "__init__.py")
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for target in dict.fromkeys(targets):
            if target.split(".")[0] in SOURCES and target != module:
                found.append(Import(module, target, relative, node.lineno))
    return found


def room(module: str) -> str:
    """The longest room name that is `module` or a package above it."""
    candidates = [r for r in MAY_IMPORT if module == r or module.startswith(r + ".")]
    assert candidates, f"{module} is in no room: give its package a floor in this test"
    return max(candidates, key=len)


def all_imports() -> list[Import]:
    modules = project_modules()
    return [i for name, path in modules.items() for i in imports_of(name, path, modules)]


def upward(imports: list[Import]) -> list[str]:
    bad = []
    for item in imports:
        source, target = room(item.importer), room(item.imported)
        if source != target and target not in MAY_IMPORT[source]:
            allowed = ", ".join(sorted(MAY_IMPORT[source]))
            rule = f"only {allowed}" if allowed else "nothing else of the project"
            bad.append(f"{item} ({source} may import {rule})")
    return bad


def circles(imports: list[Import]) -> list[list[Import]]:
    """One circle of imports per strongly connected group of modules (Tarjan)."""
    edges: dict[str, list[Import]] = {}
    for item in imports:
        edges.setdefault(item.importer, []).append(item)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for edge in edges.get(node, []):
            if edge.imported not in index:
                visit(edge.imported)
                low[node] = min(low[node], low[edge.imported])
            elif edge.imported in on_stack:
                low[node] = min(low[node], index[edge.imported])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [circle_through(group, edges) for group in groups]


def circle_through(group: set[str], edges: dict[str, list[Import]]) -> list[Import]:
    """A shortest path of imports from the group's first module back to itself."""
    start = min(group)
    paths: dict[str, list[Import]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for edge in edges.get(node, []):
                if edge.imported == start:
                    return [*paths[node], edge]
                if edge.imported in group and edge.imported not in paths:
                    paths[edge.imported] = [*paths[node], edge]
                    following.append(edge.imported)
        frontier = following
    raise AssertionError(f"no circle through {start}")


def test_every_module_has_a_floor() -> None:
    for module in project_modules():
        room(module)


def test_no_import_points_up_a_floor() -> None:
    bad = upward(all_imports())
    assert not bad, "imports that point up or sideways:\n" + "\n".join(bad)


def test_no_circle_of_imports() -> None:
    found = circles(all_imports())
    assert not found, "circles of imports:\n" + "\n\n".join(
        "\n".join(str(edge) for edge in circle) for circle in found
    )


def test_the_checks_name_an_upward_import_and_a_circle() -> None:
    """The checks themselves: an upward import and a circle made up here are both found."""
    up = Import("mmstream.core.settings", "connectors.settings", "mmstream/core/settings.py", 3)
    sideways = Import("connectors.sink", "processors.app", "connectors/sink.py", 9)
    down = Import("processors.app", "schemas.serde", "processors/app.py", 30)
    assert upward([up, sideways, down]) == [
        "mmstream/core/settings.py:3: mmstream.core.settings imports connectors.settings "
        "(mmstream.core may import nothing else of the project)",
        "connectors/sink.py:9: connectors.sink imports processors.app "
        "(connectors may import only mmstream.core, schemas)",
    ]
    a_to_b = Import("processors.app", "processors.hedge.agent", "processors/app.py", 1)
    b_to_a = Import("processors.hedge.agent", "processors.app", "processors/hedge/agent.py", 2)
    assert circles([a_to_b, b_to_a, down]) == [[a_to_b, b_to_a]]
