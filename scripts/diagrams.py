"""Regenerate the diagrams the documentation embeds from the code, or check that they are current.

    pipenv run diagrams            rewrite them wherever they are embedded
    pipenv run diagrams --check    exit 1 if they are stale (a qa hook runs this)
    pipenv run diagrams --current  print the revision history with the database's revision marked

A diagram is embedded by markers, `<!-- diagram: er -->` or `<!-- diagram: history -->`, then
a mermaid block, then `<!-- /diagram -->`, in README.md or any page under docs/. Whichever files
hold markers are kept current; a project with none (a copy whose README was replaced) has
nothing to check. The ER diagram comes from the models' metadata (paracelsus); the revision
history from the revision files (alembic_stuff.db.history_graph). Neither depends on a
database or the clock, so the same code always gives the same files.
"""

import argparse
import difflib
import re
import shutil
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.exc import OperationalError

from alembic_stuff.db.history_graph import history_mermaid
from alembic_stuff.db.migrations import alembic_config, current_revisions
from alembic_stuff.settings_errors import InvalidSettingsError, checked_settings

ROOT = Path(__file__).resolve().parent.parent
MODELS_BASE = "alembic_stuff.models:Base"


def er_diagram() -> str:
    """The models as a Mermaid ER diagram, drawn by paracelsus."""
    paracelsus = shutil.which("paracelsus")
    if paracelsus is None:
        sys.exit("diagrams: paracelsus is not installed: run `pipenv run setup`")
    result = subprocess.run(
        [paracelsus, "graph", MODELS_BASE, "--format", "mermaid"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if result.returncode != 0:
        sys.exit(f"diagrams: paracelsus failed: {result.stderr.strip()}")
    return result.stdout.strip() + "\n"


def history_diagram(ini: Path, current: tuple[str, ...] = ()) -> str:
    """The revision history of the project whose alembic.ini is `ini`."""
    return history_mermaid(ScriptDirectory.from_config(alembic_config(ini_path=ini)), current)


def diagrams(ini: Path) -> dict[str, str]:
    """Every diagram a file can embed, by the name in its markers."""
    return {"er": er_diagram(), "history": history_diagram(ini)}


def marker(name: str) -> re.Pattern[str]:
    """The embedded block of the diagram `name`, its markers and mermaid fence included."""
    return re.compile(
        rf"(<!-- diagram: {name} -->\n)```mermaid\n.*?```\n(<!-- /diagram -->)", re.DOTALL
    )


def embedding(project: Path) -> list[Path]:
    """README.md and the docs pages that embed a diagram, in a stable order."""
    candidates = [project / "README.md", *sorted((project / "docs").glob("**/*.md"))]
    return [
        path
        for path in candidates
        if path.is_file() and "_build" not in path.parts and "<!-- diagram: " in path.read_text()
    ]


def embed(text: str, blocks: dict[str, str]) -> str:
    """`text` with each `<!-- diagram: NAME -->` block it holds replaced by the diagram NAME."""
    for name, mermaid in blocks.items():
        text = marker(name).sub(
            lambda m, mermaid=mermaid: f"{m[1]}```mermaid\n{mermaid}```\n{m[2]}", text
        )
    return text


def main() -> None:
    """Rewrite, check or print the diagrams."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 if a diagram is stale.")
    parser.add_argument(
        "--current", action="store_true", help="Print the history, the database's revision marked."
    )
    parser.add_argument("--project", type=Path, default=ROOT, help=argparse.SUPPRESS)
    options = parser.parse_args()
    ini = options.project / "alembic.ini"

    if options.current:
        try:
            current = current_revisions(checked_settings())
        except InvalidSettingsError as exc:
            sys.exit(f"error: {exc}")
        except OperationalError:
            print("-- the database is unreachable: no revision marked", file=sys.stderr)
            current = ()
        print(history_diagram(ini, current), end="")
        return

    files = embedding(options.project)
    if not files:
        print("diagrams: no file embeds a `<!-- diagram: NAME -->` block; nothing to draw")
        return
    blocks = diagrams(ini)
    for path in files:
        redraw(path, options.project, blocks, check=options.check)


def redraw(path: Path, project: Path, blocks: dict[str, str], *, check: bool) -> None:
    """Rewrite the diagrams `path` embeds, or with `check` exit 1 when they are stale."""
    name = path.relative_to(project).as_posix()
    text = path.read_text()
    updated = embed(text, blocks)
    if updated == text:
        print(f"diagrams: {name} is current")
        return
    if check:
        diff = difflib.unified_diff(
            text.splitlines(), updated.splitlines(), name, "generated", lineterm=""
        )
        print("\n".join(diff), file=sys.stderr)
        sys.exit(f"diagrams: {name}'s diagrams are stale: run `pipenv run diagrams`")
    path.write_text(updated)
    print(f"diagrams: {name} updated")


if __name__ == "__main__":
    main()
