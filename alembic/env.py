"""Alembic's migration environment for alembic-stuff.

The database comes from the project's settings (DATABASE_URL, or the embedded server when
it is unset), never from alembic.ini. Online migrations hold a PostgreSQL advisory lock, so
several replicas can run `alembic upgrade heads` at once, and run one transaction per
revision, so a failure leaves the database at the last revision that succeeded.
Autogenerate is rename-aware: no column or table is dropped unless someone said so (see
alembic_stuff/autogen/renames.py for the -x rename and -x allow_drop hints).

The history has two heads, the `expand` and `contract` branches: `alembic upgrade heads`
applies both; Alembic itself refuses `alembic upgrade head`, naming `heads` and `expand@head`.
"""

import sys
from logging.config import fileConfig

import alembic_postgresql_enum  # noqa: F401 - registers autogenerate's enum comparisons
from alembic import context
from alembic.runtime.environment import ProcessRevisionDirectiveFn
from sqlalchemy import Connection, Engine, create_engine, pool
from sqlalchemy.exc import DBAPIError, OperationalError

# Importing the hook also registers op.rename_index and op.rename_constraint for revisions.
from alembic_stuff.autogen import AUTOGENERATE_PLUGINS
from alembic_stuff.autogen.hints import Hints
from alembic_stuff.autogen.renames import rename_aware
from alembic_stuff.autogen.schemas import modelled_schemas
from alembic_stuff.db.migrations import (
    MigrationLockTimeoutError,
    acquire_migration_lock,
    release_migration_lock,
    set_migration_timeouts,
    timed_out,
    timeout_statements,
)
from alembic_stuff.models import Base
from alembic_stuff.settings import Settings
from alembic_stuff.settings_errors import settings_or_exit

config = context.config
settings: Settings = config.attributes.get("settings") or settings_or_exit()
# A caller may compare against other models (the rename scenario tests do).
target_metadata = config.attributes.get("target_metadata") or Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def run_migrations_offline() -> None:
    """Write the migrations' SQL to stdout (`alembic upgrade --sql`): no database needed."""
    context.configure(
        url=settings.migration_url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        transaction_per_migration=True,
    )
    # The script bounds its own waits, as online migrations do.
    for statement in timeout_statements(settings):
        context.execute(statement)
    with context.begin_transaction():
        context.run_migrations()


def migrate(connection: Connection) -> None:
    """Run the migrations on `connection` under the migration lock."""
    acquire_migration_lock(connection, settings.migration_lock_wait_seconds)
    try:
        set_migration_timeouts(connection, settings)
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            autogenerate_plugins=AUTOGENERATE_PLUGINS,
            include_schemas=True,
            include_name=modelled_schemas(target_metadata),
            transaction_per_migration=True,
            process_revision_directives=_rename_aware_when_generating(),
        )
        try:
            with context.begin_transaction():
                context.run_migrations()
        except DBAPIError as exc:
            error = timed_out(exc, connection, settings)
            if error is None:
                raise
            raise error from None
    finally:
        release_migration_lock(connection)


def run_migrations_online() -> None:
    """Run the migrations against the configured database."""
    # A caller (the tests, pytest-alembic) may hand us a Connection or an Engine to use.
    given: Connection | Engine | None = config.attributes.get("connection")
    if isinstance(given, Connection):
        migrate(given)
        return
    engine = given or create_engine(settings.migration_url, poolclass=pool.NullPool)
    try:
        connection = engine.connect()
    except OperationalError as exc:
        raise SystemExit(_unreachable(exc)) from exc
    try:
        with connection:
            migrate(connection)
    except MigrationLockTimeoutError as exc:
        raise SystemExit(f"error: {exc}") from exc
    finally:
        if given is None:
            engine.dispose()


def _rename_aware_when_generating() -> ProcessRevisionDirectiveFn | None:
    """The rename hook for `revision --autogenerate`; `alembic check` only reports drift."""
    if not getattr(config.cmd_opts, "autogenerate", False):
        return None
    return rename_aware(
        Hints.parse(context.get_x_argument()),
        ask=_ask if sys.stdin.isatty() else None,
    )


def _ask(question: str) -> bool:
    return input(question).strip().lower() in {"y", "yes"}


def _unreachable(exc: OperationalError) -> str:
    where = settings.server_url.render_as_string(hide_password=True)
    hint = (
        "start it with `pipenv run db-up` (or set DATABASE_URL)"
        if settings.uses_embedded_database
        else "check DATABASE_URL and that the server is running"
    )
    return f"error: cannot connect to {where}: {hint}. ({str(exc.orig).strip().splitlines()[0]})"


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
