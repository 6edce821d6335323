"""Reading a database through the project's own env.py, as `alembic current` does.

The toolkit's commands do not know where a project's database is, or how to connect to it:
env.py does. `read_database` runs env.py (Alembic's `EnvironmentContext`, with no revision to
move to, so nothing is written and no migration lock is taken) and hands the reader the
connection and the database's heads.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from alembic_toolkit import log

T = TypeVar("T")
# Set in the Config's attributes while a command reads: `guarded_migration` then names a
# statement that timed out as the read it was, not as a migration or autogenerate's trial.
READING = "alembic_toolkit.reading"


def read_database(config: Config, reader: Callable[[Connection, tuple[str, ...]], T]) -> T:
    """Run `reader(connection, heads)` on the database env.py connects to, and return its result."""
    script = ScriptDirectory.from_config(config)
    results: list[T] = []

    def read(rev: Any, context: MigrationContext) -> list[Any]:
        if context.bind is None:
            raise CommandError("env.py ran offline (--sql): this command needs the database")
        results.append(reader(context.bind, tuple(sorted(context.get_current_heads()))))
        return []

    config.attributes[READING] = True
    try:
        # Quiet: a context logs "Context impl ..." at INFO when configured, and a read is not
        # a migration; those lines printed before an upgrade's own read as a second run.
        with log.quiet(), EnvironmentContext(config, script, fn=read, dont_mutate=True):
            script.run_env()
    finally:
        config.attributes.pop(READING, None)
    if not results:
        raise CommandError(
            "env.py did not run the migrations online (context.run_migrations() with a "
            "connection): this command needs the database"
        )
    return results[0]
