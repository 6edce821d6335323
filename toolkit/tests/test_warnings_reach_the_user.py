"""The toolkit's warnings print in a stock `alembic init` project, despite its fileConfig(...).

The generic template's env.py calls `fileConfig(config.config_file_name)`, which disables every
logger that exists by then, the toolkit's among them: the "waiting for the migration lock"
warning once never printed there.
"""

import subprocess
import sys
import time
from pathlib import Path

import alembic_toolkit
import psycopg
from alembic_toolkit.log import LOGGERS
from sqlalchemy import URL
from toolkit_support import run_module, scratch_url

KEY = 424242
TEMPLATE_RUN = """        with context.begin_transaction():
            context.run_migrations()
"""
GUARDED_RUN = (
    f"        with guarded_migration(connection, lock_key={KEY}, limits=MigrationLimits()):\n"
    "            with context.begin_transaction():\n"
    "                context.run_migrations()\n"
)
# Another session trying for the lock: the upgrade, waiting.
TRYING = (
    "SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_try_advisory_lock%' "
    "AND pid <> pg_backend_pid()"
)
IMPORTS = (
    "from alembic_toolkit.environment import guarded_migration\n"
    "from alembic_toolkit.timeouts import MigrationLimits\n"
)


def test_waiting_for_the_migration_lock_is_said_in_a_stock_project(
    tmp_path: Path, database: URL
) -> None:
    assert run_module(tmp_path, "alembic", "init", "migrations").returncode == 0
    url = scratch_url(database)
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        ini.read_text().replace("driver://user:pass@localhost/dbname", url.replace("%", "%%"))
    )
    env = tmp_path / "migrations" / "env.py"
    source = env.read_text()
    assert "fileConfig(config.config_file_name)" in source
    assert TEMPLATE_RUN in source
    source = source.replace(
        "from alembic import context\n", f"from alembic import context\n{IMPORTS}"
    )
    env.write_text(source.replace(TEMPLATE_RUN, GUARDED_RUN))

    dsn = database.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (KEY,))
        upgrade = subprocess.Popen(
            [sys.executable, "-m", "alembic", "upgrade", "heads"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # Released once the upgrade has tried for it: it waits, says so, then goes through.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not holder.execute(TRYING).fetchone():
                time.sleep(0.05)
            holder.execute("SELECT pg_advisory_unlock(%s)", (KEY,))
            _, errors = upgrade.communicate(timeout=60)
        finally:
            upgrade.kill()
            upgrade.wait()
    assert upgrade.returncode == 0, errors
    assert "another process holds the migration lock" in errors


def test_every_toolkit_module_that_logs_is_turned_back_on() -> None:
    package = Path(alembic_toolkit.__file__).parent
    logging_modules = {
        ".".join(("alembic_toolkit", *path.relative_to(package).with_suffix("").parts))
        for path in package.rglob("*.py")
        if "getLogger(__name__)" in path.read_text()
    }
    assert logging_modules == set(LOGGERS)
