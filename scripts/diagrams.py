"""Regenerate the README's diagrams from the code, or check that they are current.

    pipenv run diagrams            rewrite them in README.md
    pipenv run diagrams --check    exit 1 if they are stale (a qa hook runs this)
    pipenv run diagrams --current  print the revision history with the database's revision marked

The ER diagram comes from the models' metadata (paracelsus); the revision history from the
revision files (alembic_stuff.db.history_graph). Neither depends on a database or the clock,
so the same code always gives the same README.
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
    """Every diagram the README embeds, by the name in its markers."""
    return {"er": er_diagram(), "history": history_diagram(ini)}


def embed(readme: str, blocks: dict[str, str]) -> str:
    """`readme` with each `<!-- diagram: NAME -->` block replaced by the diagram NAME."""
    for name, mermaid in blocks.items():
        pattern = re.compile(
            rf"(<!-- diagram: {name} -->\n)```mermaid\n.*?```\n(<!-- /diagram -->)", re.DOTALL
        )
        if not pattern.search(readme):
            sys.exit(f"diagrams: README.md has no `<!-- diagram: {name} -->` block")
        readme = pattern.sub(
            lambda m, mermaid=mermaid: f"{m[1]}```mermaid\n{mermaid}```\n{m[2]}", readme
        )
    return readme


def main() -> None:
    """Rewrite, check or print the diagrams."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 if README.md is stale.")
    parser.add_argument(
        "--current", action="store_true", help="Print the history, the database's revision marked."
    )
    parser.add_argument("--project", type=Path, default=ROOT, help=argparse.SUPPRESS)
    options = parser.parse_args()
    readme_path, ini = options.project / "README.md", options.project / "alembic.ini"

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

    readme = readme_path.read_text()
    updated = embed(readme, diagrams(ini))
    if updated == readme:
        print("diagrams: README.md is current")
        return
    if options.check:
        diff = difflib.unified_diff(
            readme.splitlines(), updated.splitlines(), "README.md", "generated", lineterm=""
        )
        print("\n".join(diff), file=sys.stderr)
        sys.exit("diagrams: README.md's diagrams are stale: run `pipenv run diagrams`")
    readme_path.write_text(updated)
    print("diagrams: README.md updated")


if __name__ == "__main__":
    main()
