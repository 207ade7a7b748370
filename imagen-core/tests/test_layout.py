"""The core's layout: no import loop between its modules, counting every import.

An import inside a function or under ``if TYPE_CHECKING:`` still ties two modules together
(one cannot be read, tested or moved without the other), so all of them count here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import imagen

SOURCE = Path(imagen.__file__).resolve().parent.parent


def modules() -> dict[str, Path]:
    found = {}
    for file in (SOURCE / "imagen").rglob("*.py"):
        parts = list(file.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = file
    return found


def imports(name: str, file: Path, known: Mapping[str, Path]) -> set[str]:
    """The imagen modules ``name`` imports anywhere in its text."""

    def nearest(dotted: str) -> str:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted

    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(nearest(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else nearest(base))
    return {module for module in found if module.startswith("imagen") and module != name}


def loops(graph: Mapping[str, set[str]]) -> Iterator[list[str]]:
    """Each strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                yield from visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                yield sorted(group)

    for node in sorted(graph):
        if node not in index:
            yield from visit(node)


def test_the_loop_finder_finds_a_loop() -> None:
    graph = {"imagen.a": {"imagen.b"}, "imagen.b": {"imagen.c"}, "imagen.c": {"imagen.a"}}
    assert list(loops({**graph, "imagen.d": {"imagen.a"}})) == [
        ["imagen.a", "imagen.b", "imagen.c"]
    ]


def test_imports_are_read_from_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    file = tmp_path / "x.py"
    file.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from imagen.config.model import Config\n"
        "def f():\n    from imagen.sinks import run\n"
    )
    known = {"imagen.x": file, "imagen.config.model": file, "imagen.sinks.run": file}
    assert imports("imagen.x", file, known) == {"imagen.config.model", "imagen.sinks.run"}


def test_imagen_core_has_no_import_loop() -> None:
    known = modules()
    graph = {name: imports(name, file, known) for name, file in known.items()}
    found = [" -> ".join(group) for group in loops(graph)]
    assert not found, "import loops in imagen-core: " + "; ".join(found)
