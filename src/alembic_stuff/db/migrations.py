"""Running the project's Alembic migrations: from env.py, the CLI and the tests."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic_toolkit.lock import lock_key
from alembic_toolkit.timeouts import MigrationLimits, apply_timeouts, timed_out
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from alembic_stuff.paths import alembic_ini
from alembic_stuff.settings import Settings

# One key for "this project's schema is being migrated": a session-level advisory lock on it
# lets many replicas run `alembic upgrade heads` at once while only one migrates.
MIGRATION_LOCK_KEY = lock_key("alembic-stuff")


def migration_limits(settings: Settings) -> MigrationLimits:
    """The toolkit's migration limits from the project's settings, named as users set them."""
    return MigrationLimits(
        lock_wait_seconds=settings.migration_lock_wait_seconds,
        lock_timeout_seconds=settings.migration_lock_timeout_seconds,
        statement_timeout_seconds=settings.migration_statement_timeout_seconds,
        silence_seconds=settings.migration_silence_seconds,
        lock_wait_name="MIGRATION_LOCK_WAIT_SECONDS",
        lock_timeout_name="MIGRATION_LOCK_TIMEOUT_SECONDS",
        statement_timeout_name="MIGRATION_STATEMENT_TIMEOUT_SECONDS",
        silence_name="MIGRATION_SILENCE_SECONDS",
        database_url_name="MIGRATION_DATABASE_URL",
    )


def alembic_config(
    settings: Settings | None = None,
    *,
    connection: Connection | None = None,
    ini_path: Path | None = None,
    configure_logging: bool = True,
) -> Config:
    """Return an Alembic Config for the project, optionally bound to settings or a connection.

    env.py uses `settings` instead of reading the environment, and `connection` instead of
    opening its own; both are how the tests point migrations at their scratch databases.
    """
    path = ini_path or alembic_ini()
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run this from the alembic-stuff project folder")
    config = Config(str(path))
    if settings is not None:
        config.attributes["settings"] = settings
    if connection is not None:
        config.attributes["connection"] = connection
    config.attributes["configure_logging"] = configure_logging
    return config


def migration_engine(settings: Settings) -> Engine:
    """An engine on the migrations' URL, one connection per use, bounded in how long it connects.

    libpq's own default waits as long as the server does not answer: a database frozen, or its
    host gone, would hold `alembic-latest` forever.
    """
    return create_engine(
        settings.migration_url,
        poolclass=NullPool,
        connect_args={"connect_timeout": math.ceil(settings.database_connect_timeout_seconds)},
    )


def rows_at_the_heads(config: Config | None = None) -> tuple[str, ...]:
    """What alembic_version holds once the database is at every head, sorted.

    Each head, except one that another head depends on (`depends_on`): Alembic drops the row
    of a revision that one applied after it implies, as a generated expand revision does to
    the contract head it was written against.
    """
    script = ScriptDirectory.from_config(config or alembic_config())
    heads = script.get_heads()
    below = {
        head: {r.revision for r in script.iterate_revisions(head, "base")} - {head}
        for head in heads
    }
    return tuple(sorted(h for h in heads if not any(h in below[other] for other in heads)))


def upgrade_to_head(settings: Settings, *, configure_logging: bool = True) -> None:
    """Upgrade the database named by `settings` to every head: expand and contract."""
    command.upgrade(alembic_config(settings, configure_logging=configure_logging), "heads")


def current_revisions(settings: Settings) -> tuple[str, ...]:
    """Return the database's revisions, one per branch head, sorted.

    Raises OperationalError when the database is unreachable, and MigrationTimeoutError when
    the version table stays locked for longer than the migrations' lock timeout.
    """
    limits = migration_limits(settings)
    engine = migration_engine(settings)
    # A context logs "Context impl ..." at INFO when configured; reading the version table is
    # not a migration, and those lines printed before the upgrade's own read as a second run.
    migration_log = logging.getLogger("alembic.runtime.migration")
    level = migration_log.level
    migration_log.setLevel(logging.WARNING)
    try:
        with engine.connect() as connection:
            # Bounded as a migration is: a session holding alembic_version locked (a migration
            # stuck elsewhere, a forgotten psql) must not leave the command waiting forever.
            apply_timeouts(connection, limits)
            try:
                return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
            except DBAPIError as exc:
                error = timed_out(exc, connection, limits, outcome="nothing was run")
                if error is None:
                    raise
                raise error from None
    finally:
        migration_log.setLevel(level)
        engine.dispose()
