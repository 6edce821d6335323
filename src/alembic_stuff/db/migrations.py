"""Running the project's Alembic migrations: from env.py, the CLI and the tests."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from alembic_stuff.paths import alembic_ini
from alembic_stuff.settings import Settings

# One key for "this project's schema is being migrated": a session-level advisory lock on it
# lets many replicas run `alembic upgrade heads` at once while only one migrates.
MIGRATION_LOCK_KEY = zlib.crc32(b"alembic-stuff:migrations")


class MigrationLockTimeoutError(RuntimeError):
    """Another process held the migration lock for longer than the configured wait."""


class MigrationTimeoutError(CommandError):
    """A revision waited too long for a table lock, or ran too long, and was rolled back."""


# PostgreSQL's SQLSTATEs for a statement cancelled by lock_timeout and by statement_timeout.
LOCK_NOT_AVAILABLE, QUERY_CANCELED = "55P03", "57014"


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


def head_revisions(config: Config | None = None) -> tuple[str, ...]:
    """Return the history's heads (the expand and the contract head), sorted."""
    return tuple(sorted(ScriptDirectory.from_config(config or alembic_config()).get_heads()))


def upgrade_to_head(settings: Settings, *, configure_logging: bool = True) -> None:
    """Upgrade the database named by `settings` to every head: expand and contract."""
    command.upgrade(alembic_config(settings, configure_logging=configure_logging), "heads")


def acquire_migration_lock(connection: Connection, wait_seconds: float) -> None:
    """Take the migration lock on `connection`, waiting at most `wait_seconds`."""
    connection.execute(
        text("SELECT set_config('lock_timeout', :ms, false)"), {"ms": _ms(wait_seconds)}
    )
    try:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    except DBAPIError as exc:
        connection.rollback()
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            raise MigrationLockTimeoutError(
                f"another process has held the migration lock (pg_advisory_lock "
                f"{MIGRATION_LOCK_KEY}) for over {wait_seconds:g} s; see pg_locks, or raise "
                "MIGRATION_LOCK_WAIT_SECONDS"
            ) from exc
        raise
    # The lock is held by the session, not the transaction: committing keeps it.
    connection.commit()


def release_migration_lock(connection: Connection) -> None:
    """Release the migration lock taken by `acquire_migration_lock`."""
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.commit()


def timeout_statements(settings: Settings) -> list[str]:
    """SET statements bounding how long one migration statement may wait for a lock, and run."""
    return [
        f"SET lock_timeout = '{_ms(settings.migration_lock_timeout_seconds)}'",
        f"SET statement_timeout = '{_ms(settings.migration_statement_timeout_seconds)}'",
    ]


def set_migration_timeouts(connection: Connection, settings: Settings) -> None:
    """Apply `timeout_statements` to the migration's connection."""
    for statement in timeout_statements(settings):
        connection.exec_driver_sql(statement)
    connection.commit()


def timed_out(
    exc: DBAPIError, connection: Connection, settings: Settings
) -> MigrationTimeoutError | None:
    """A one-line error for a statement cancelled by a migration timeout; None for others.

    Called once the revision's transaction has rolled back: the session holding the lock is
    still in its transaction, so it can be named.
    """
    state = getattr(exc.orig, "sqlstate", None)
    if state == QUERY_CANCELED:
        limit = settings.migration_statement_timeout_seconds
        return MigrationTimeoutError(
            f"a migration statement ran longer than {limit:g} s "
            "(MIGRATION_STATEMENT_TIMEOUT_SECONDS) and was cancelled; the revision was rolled back"
        )
    if state != LOCK_NOT_AVAILABLE:
        return None
    connection.rollback()
    holder = connection.execute(
        text(
            "SELECT a.pid, a.state, round(extract(epoch FROM now() - a.xact_start)::numeric, 1),"
            " left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200)"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.granted AND l.locktype = 'relation' AND a.pid <> pg_backend_pid()"
            " AND a.datname = current_database() AND a.xact_start IS NOT NULL"
            " ORDER BY a.xact_start LIMIT 1"
        )
    ).first()
    connection.rollback()
    blocker = (
        f"; the oldest transaction holding a table lock is pid {holder[0]} ({holder[1]} for "
        f'{holder[2]} s) running "{holder[3]}", which pg_terminate_backend({holder[0]}) ends'
        if holder
        else ""
    )
    return MigrationTimeoutError(
        f"a migration statement waited longer than {settings.migration_lock_timeout_seconds:g} s "
        f"(MIGRATION_LOCK_TIMEOUT_SECONDS) for a table lock; the revision was rolled back{blocker}"
    )


def offline_sql(config: Config, revisions: str, *, downgrade: bool = False) -> str:
    """Return the SQL that `alembic upgrade|downgrade <revisions> --sql` writes: no database."""
    buffer = io.StringIO()
    previous, config.output_buffer = config.output_buffer, buffer
    try:
        (command.downgrade if downgrade else command.upgrade)(config, revisions, sql=True)
    finally:
        config.output_buffer = previous
    return buffer.getvalue()


def current_revisions(settings: Settings) -> tuple[str, ...]:
    """Return the database's revisions, one per branch head, sorted; raises if unreachable."""
    engine = create_engine(settings.migration_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    finally:
        engine.dispose()


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"
