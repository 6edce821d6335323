"""The layout is the architecture: the toolkit stands alone, and nothing imports in a circle.

Read from the source with `ast`, so a violation fails here whatever gets imported at run time.
"""

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Where each top-level package's modules live, by the import name of that folder.
PACKAGES = {
    "alembic_stuff": ROOT / "src" / "alembic_stuff",
    "alembic_toolkit": ROOT / "toolkit" / "src" / "alembic_toolkit",
    "bench": ROOT / "bench",
    "scripts": ROOT / "scripts",
}
# What the toolkit may import besides itself and the standard library: what it declares.
TOOLKIT_DEPENDENCIES = {"alembic", "sqlalchemy"}


def modules() -> dict[str, Path]:
    """Every module of the project's packages, by its dotted name."""
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(path: Path) -> Iterator[str]:
    """The dotted names `path` imports (for `from a import b`: `a` and `a.b`)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Which of the project's modules each of them imports."""
    known = modules()
    return {
        name: {target for target in imports(path) if target in known and target != name}
        for name, path in known.items()
    }


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, as the modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)) is not None:
            return found
    return None


def test_the_toolkit_imports_nothing_from_the_app_only_what_it_declares() -> None:
    toolkit = [name for name in modules() if name.startswith("alembic_toolkit")]
    assert len(toolkit) > 20
    for name in toolkit:
        for target in imports(modules()[name]):
            top = target.split(".")[0]
            allowed = {"alembic_toolkit", *TOOLKIT_DEPENDENCIES}
            assert top in allowed or top in sys.stdlib_module_names, f"{name} imports {target}"


def test_nothing_imports_in_a_circle_bench_and_scripts_included() -> None:
    assert cycle_in(import_graph()) is None, " -> ".join(cycle_in(import_graph()) or [])


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b", "c"}, "b": set(), "c": {"c2"}, "c2": {"c"}}, ["c", "c2", "c"]),
    ],
)
def test_the_cycle_finder_finds_cycles(
    graph: dict[str, set[str]], expected: list[str] | None
) -> None:
    assert cycle_in(graph) == expected


# What the libraries' documentation does not cover: the product may not import it (bench/ may,
# to measure what it would buy). A name with a leading underscore is private wherever it is.
LIBRARIES = ("alembic", "fastapi", "pydantic", "sqlalchemy", "starlette", "uvicorn")
UNDOCUMENTED = (
    "sqlalchemy.util",
    "starlette.routing.compile_path",
    "uvicorn.protocols",
    "uvicorn.lifespan",
    "uvicorn.loops",
    "uvicorn.middleware",
)


def undocumented(target: str) -> bool:
    """Whether an imported name is outside its library's documented API."""
    parts = target.split(".")
    if parts[0] not in LIBRARIES:
        return False
    return any(part.startswith("_") for part in parts) or any(
        target == prefix or target.startswith(f"{prefix}.") for prefix in UNDOCUMENTED
    )


def product_modules() -> dict[str, Path]:
    """The app's and the toolkit's modules, and the migration environment's."""
    found = {name: path for name, path in modules().items() if name.split(".")[0] in PRODUCT}
    found |= {str(path.relative_to(ROOT)): path for path in (ROOT / "alembic").rglob("*.py")}
    return found


PRODUCT = ("alembic_stuff", "alembic_toolkit")


def test_the_product_imports_only_documented_apis() -> None:
    found = {
        name: sorted(target for target in imports(path) if undocumented(target))
        for name, path in product_modules().items()
    }
    assert {name: targets for name, targets in found.items() if targets} == {}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("sqlalchemy.util.greenlet_spawn", True),
        ("starlette.routing.compile_path", True),
        ("uvicorn.protocols.http.httptools_impl.HttpToolsProtocol", True),
        ("sqlalchemy.engine._row", True),
        ("sqlalchemy.ext.asyncio.AsyncSession", False),
        ("starlette.routing.Route", False),
        ("alembic.util.CommandError", False),
        ("uvicorn.Config", False),
        ("mypackage._private", False),
    ],
)
def test_the_undocumented_check_tells_them_apart(target: str, expected: bool) -> None:
    assert undocumented(target) is expected
