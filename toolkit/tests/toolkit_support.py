"""Helpers of the toolkit's tests: scratch databases, scratch Alembic projects, commands.

Test modules import them from here (pytest puts this folder on the path): nothing comes from
the repository around the toolkit, so they run against the installed wheel too.
"""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from psycopg import sql
from sqlalchemy import URL, Connection

# Long enough for a loaded two-core machine to start Python and Alembic many times over.
TIMEOUT_SECONDS = 120
SCRATCH_PREFIX = "alembic_toolkit_test_"
# Where the scratch projects' env.py finds its database (a psycopg URL).
URL_VARIABLE = "SCRATCH_DATABASE_URL"


def dsn(url: URL) -> str:
    """`url` as libpq reads it, password included."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def scratch_database(server: URL) -> Iterator[URL]:
    """Create an empty database with a unique name on `server`; drop it afterwards.

    The drop goes ahead whatever connections the test left on it.
    """
    name = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn(server), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name)
    finally:
        with psycopg.connect(dsn(server), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def run_module(folder: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m module args` with this environment's Python, started in `folder`."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_SECONDS,
    )


@contextmanager
def migration_operations(connection: Connection) -> Iterator[MigrationContext]:
    """Run the block as a revision's upgrade() would: `alembic.op` on `connection`.

    For helpers meant to be called from revisions. The block runs in a transaction, committed
    when it ends.
    """
    context = MigrationContext.configure(connection)
    with Operations.context(context), context.begin_transaction():
        yield context


# The smallest environment the scratch projects need: the URL from the environment, one
# transaction per revision (so the zero-downtime helpers' autocommit blocks have a
# transaction to step out of), online and offline.
MINIMAL_ENV = f'''"""A scratch project's migration environment: its URL from {URL_VARIABLE}."""

import os

from alembic import context
from sqlalchemy import create_engine, pool

url = os.environ["{URL_VARIABLE}"]
if context.is_offline_mode():
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={{"paramstyle": "named"}},
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
'''

_SCRATCH_REVISION = '''"""A revision written by a test."""

import sqlalchemy as sa
from alembic import op

from alembic_toolkit import zerodowntime as zd

revision = "{revision}"
down_revision = {down_revision!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def scratch_alembic_project(folder: Path, revisions: list[tuple[str, str, str]]) -> Path:
    """Write an Alembic project with `revisions` (id, upgrade body, downgrade body), in order.

    Returns its alembic.ini; run it with `alembic_subprocess`, or in this process with
    `scratch_url` in the environment. The revisions may use `sa`, `op` and `zd`
    (alembic_toolkit.zerodowntime).
    """
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(MINIMAL_ENV)
    previous = None
    for revision, upgrade, downgrade in revisions:
        (folder / "versions" / f"{revision}.py").write_text(
            _SCRATCH_REVISION.format(
                revision=revision,
                down_revision=previous,
                upgrade=_indent(upgrade),
                downgrade=_indent(downgrade or "pass"),
            )
        )
        previous = revision
    ini = folder / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {folder}\n")
    return ini


def _indent(body: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in body.strip().splitlines())


def scratch_url(database: URL) -> str:
    """The value of URL_VARIABLE for a scratch project on `database`."""
    return database.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def alembic_subprocess(ini: Path, database: URL, *args: str) -> subprocess.Popen[str]:
    """`alembic -c ini <args>` in its own process on `database`, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "alembic", "-c", str(ini), *args],
        cwd=ini.parent,
        env={**os.environ, URL_VARIABLE: scratch_url(database)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def copy_tree(source: Path, destination: Path) -> Path:
    """Copy `source` to `destination`, leaving out build output and caches."""
    ignored = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__")
    return Path(shutil.copytree(source, destination, ignore=ignored))
