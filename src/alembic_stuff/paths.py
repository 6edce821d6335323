"""Where the project's files are, wherever a command is started from inside it."""

from pathlib import Path

ALEMBIC_INI = "alembic.ini"


def project_root(start: Path | None = None) -> Path:
    """Return the nearest folder at or above `start` (default: the working folder) with alembic.ini.

    Falls back to `start` itself, so that a command run elsewhere fails on the missing file
    with a message naming it rather than here.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ALEMBIC_INI).is_file():
            return folder
    return here


def alembic_ini(start: Path | None = None) -> Path:
    """Return the path of the project's alembic.ini."""
    return project_root(start) / ALEMBIC_INI


def embedded_passfile(data_dir: Path) -> Path:
    """The embedded server's password file (PostgreSQL's .pgpass format), beside its data."""
    return data_dir / "pgpass"


def app_role_sql(start: Path | None = None) -> Path:
    """The script that creates the API's least-privileged role and its grants."""
    return project_root(start) / "docker" / "initdb" / "10-app-role.sql"
