"""The package stands alone, and its progress reporting on a terminal."""

import ast
import io
import sys
from pathlib import Path

import alembic_stuff.zerodowntime
from alembic_stuff.zerodowntime import StreamProgress

PACKAGE = Path(alembic_stuff.zerodowntime.__file__).parent
ALLOWED = {"alembic", "sqlalchemy", "click"}


def imported_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text())
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_it_imports_only_itself_alembic_sqlalchemy_click_and_the_standard_library() -> None:
    sources = sorted(PACKAGE.glob("*.py"))
    assert len(sources) > 5
    for source in sources:
        for module in imported_modules(source):
            top = module.split(".")[0]
            if module.startswith("alembic_stuff."):
                assert module.startswith("alembic_stuff.zerodowntime"), (source.name, module)
            else:
                assert top in ALLOWED or top in sys.stdlib_module_names, (
                    source.name,
                    module,
                )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_ends_with_the_rate() -> None:
    terminal = Terminal()
    progress = StreamProgress(terminal)
    progress.start("ledger.cents", 0, 1000)
    progress.advance(250)
    progress.advance(500)
    progress.finish(1000, 1000, 2.0)
    lines = terminal.getvalue().split("\n")
    assert lines[0] == "backfill ledger.cents: started of about 1,000"
    redraws = lines[1].split("\r")[1:]
    assert redraws[0].startswith(
        "backfill ledger.cents [" + "#" * 8 + "-" * 22 + "] 250 of ~1,000 (25%)"
    )
    assert redraws[1].startswith(
        "backfill ledger.cents [" + "#" * 15 + "-" * 15 + "] 500 of ~1,000 (50%)"
    )
    assert "(99%)" in redraws[-1]  # an estimate never claims 100% before the end
    assert lines[2] == "backfill ledger.cents: done, 1,000 rows in 2.0 s (500 rows/s), 1,000 in all"
