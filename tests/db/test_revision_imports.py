"""Every revision imports only Alembic, SQLAlchemy, the toolkit and the standard library.

A revision must give the same result forever. One that imports a library's data (pycountry),
or the project's models, gives whatever that code says on the day it runs: the data it
needs belongs inside it, frozen. The toolkit's operations (the zero-downtime helpers) are
code a revision calls, like Alembic's `op`, not data it reads.
"""

import ast
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.databases import ROOT

ALLOWED = (
    frozenset({"alembic", "alembic_toolkit", "sqlalchemy", "__future__"}) | sys.stdlib_module_names
)


def foreign_imports(source: str) -> list[str]:
    """The imports in `source` from outside ALLOWED, and every import by name."""
    named: list[str] = []
    by_name: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            named += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            named.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Call) and _imports_by_name(node.func):
            # importlib is in the standard library, what it is asked for may not be: a
            # revision has no reason to import anything by name, so every such call counts.
            by_name.append(ast.unparse(node))
    return [name for name in named if name.split(".")[0] not in ALLOWED] + by_name


def _imports_by_name(function: ast.expr) -> bool:
    return (isinstance(function, ast.Name) and function.id == "__import__") or (
        isinstance(function, ast.Attribute) and function.attr == "import_module"
    )


def revision_files() -> list[Path]:
    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    return sorted(Path(revision.path) for revision in script.walk_revisions())


@pytest.mark.parametrize("path", revision_files(), ids=lambda path: path.stem)
def test_the_revision_imports_only_alembic_sqlalchemy_and_the_standard_library(
    path: Path,
) -> None:
    assert foreign_imports(path.read_text()) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import pycountry", ["pycountry"]),
        ("from alembic_stuff.models import Country", ["alembic_stuff.models"]),
        ("from . import helpers", ["."]),
        (
            "import importlib\nimportlib.import_module('pycountry')",
            ["importlib.import_module('pycountry')"],
        ),
        ("__import__('pycountry')", ["__import__('pycountry')"]),
        ("def upgrade():\n    import pycountry", ["pycountry"]),
        (
            "import sqlalchemy as sa\nfrom alembic import op\nfrom collections.abc import Sequence",
            [],
        ),
    ],
)
def test_foreign_imports_finds_every_way_in(source: str, found: list[str]) -> None:
    assert foreign_imports(source) == found
