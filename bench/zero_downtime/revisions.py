"""Where the proof's revisions are, and how to run Alembic on them in a process of its own."""

import os
import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic_stuff.settings import Settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ALEMBIC_INI = HERE / "alembic.ini"
# The variable the proof's env.py reads its (psycopg) database URL from.
URL_VARIABLE = "ZERO_DOWNTIME_DATABASE_URL"


def script_directory() -> ScriptDirectory:
    """The proof's revisions."""
    return ScriptDirectory.from_config(Config(str(ALEMBIC_INI)))


def base_revision() -> str:
    """The revision creating `item`, where the expand and contract branches start."""
    [base] = script_directory().get_bases()
    return base


def environment(settings: Settings) -> dict[str, str]:
    """The process environment with the proof's env.py pointed at `settings`' database."""
    url = settings.migration_url.render_as_string(hide_password=False)
    return {**os.environ, URL_VARIABLE: url}


def alembic(settings: Settings, *args: str) -> str:
    """Run `alembic <args>` on the proof's revisions in a process of its own; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), *args],
        cwd=ROOT,
        env=environment(settings),
        capture_output=True,
        text=True,
        check=False,
        # Ctrl-C reaches the bench alone, which stops this process (see harness.serving).
        start_new_session=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"alembic {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout + done.stderr
