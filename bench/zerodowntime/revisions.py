"""Where the proof's revisions are, and how to run Alembic on them in a process of its own."""

import os
import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ALEMBIC_INI = HERE / "alembic.ini"
# The variable the proof's env.py reads its (psycopg) database URL from.
URL_VARIABLE = "ZERO_DOWNTIME_DATABASE_URL"


def script_directory() -> ScriptDirectory:
    """The proof's hand-written revisions (docs/zero-downtime-rename.md)."""
    return ScriptDirectory.from_config(Config(str(ALEMBIC_INI)))


def base_revision() -> str:
    """The revision creating `item`, where the expand and contract branches start."""
    [base] = script_directory().get_bases()
    return base


def environment(migration_url: str) -> dict[str, str]:
    """The process environment with the proof's env.py pointed at `migration_url` (direct)."""
    return {**os.environ, URL_VARIABLE: migration_url}


def alembic(migration_url: str, command: list[str]) -> str:
    """Run `command` (an Alembic one) on `migration_url` in a process of its own; its output."""
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=environment(migration_url),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        # Ctrl-C reaches the bench alone, which stops this process (see replicas.py).
        start_new_session=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed: {done.stderr.strip()}")
    return done.stdout + done.stderr


def upgrade(migration_url: str, ini: Path, target: str) -> str:
    """`alembic -c ini upgrade target` in a process of its own; its output."""
    return alembic(
        migration_url, [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", target]
    )
