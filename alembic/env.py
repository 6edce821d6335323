"""Alembic's migration environment for alembic-stuff.

The database comes from the project's settings (DATABASE_URL, or the embedded server when
it is unset), never from alembic.ini. Online migrations hold a PostgreSQL advisory lock, so
several replicas can run `alembic upgrade heads` at once, and run one transaction per
revision, so a failure leaves the database at the last revision that succeeded.
Autogenerate is rename-aware: no column or table is dropped unless someone said so (the
-x rename and -x allow_drop hints). The lock, the timeouts and the rename-aware autogenerate
come from the migration toolkit (toolkit/, the `alembic_toolkit` package); failures reach the
caller as its typed errors, which the `alembic` command prints as one line.

The history has two heads, the `expand` and `contract` branches: `alembic upgrade heads`
applies both; Alembic itself refuses `alembic upgrade head`, naming `heads` and `expand@head`.
"""

from logging.config import fileConfig

import alembic_postgresql_enum  # noqa: F401 - registers autogenerate's enum comparisons
from alembic import context
from alembic_toolkit import objects
from alembic_toolkit.environment import autogenerate_options, guarded_migration
from alembic_toolkit.errors import DatabaseUnreachableError
from alembic_toolkit.ledger import record_applied
from alembic_toolkit.timeouts import timeout_statements
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from alembic_stuff.db.migrations import MIGRATION_LOCK_KEY, migration_engine, migration_limits
from alembic_stuff.models import Base
from alembic_stuff.settings import Settings
from alembic_stuff.settings_errors import checked_settings

config = context.config
# Logging first: Alembic logs an error it prints as well, and alembic.ini silences that copy.
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

settings: Settings = config.attributes.get("settings") or checked_settings()
limits = migration_limits(settings)
# A caller may compare against other models (the rename scenario tests do).
target_metadata = config.attributes.get("target_metadata") or Base.metadata


def run_migrations_offline() -> None:
    """Write the migrations' SQL to stdout (`alembic upgrade --sql`): no database needed."""
    context.configure(
        url=settings.migration_url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        transaction_per_migration=True,
        on_version_apply=record_applied(context.script),
    )
    # The script bounds its own waits, as online migrations do, and creates what the toolkit
    # records applied revisions in (/ready reads it).
    for statement in (*timeout_statements(limits), *objects.statements()):
        context.execute(statement)
    with context.begin_transaction():
        context.run_migrations()


def migrate(connection: Connection) -> None:
    """Run the migrations on `connection` under the migration lock."""
    with guarded_migration(connection, lock_key=MIGRATION_LOCK_KEY, limits=limits):
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            transaction_per_migration=True,
            # Each step records where the database stands, for /ready.
            on_version_apply=record_applied(context.script),
            **autogenerate_options(config, target_metadata),
        )
        with context.begin_transaction():
            context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations against the configured database."""
    # A caller (the tests, pytest-alembic) may hand us a Connection or an Engine to use.
    given: Connection | Engine | None = config.attributes.get("connection")
    if isinstance(given, Connection):
        migrate(given)
        return
    engine = given or migration_engine(settings)
    try:
        connection = engine.connect()
    except OperationalError as exc:
        raise DatabaseUnreachableError(_unreachable(exc)) from None
    try:
        with connection:
            migrate(connection)
    finally:
        if given is None:
            engine.dispose()


def _unreachable(exc: OperationalError) -> str:
    where = settings.migration_url.set(drivername="postgresql").render_as_string(hide_password=True)
    hint = (
        "start it with `pipenv run db-up` (or set DATABASE_URL)"
        if settings.uses_embedded_database
        else f"check {settings.migration_url_variable} and that the server is running"
    )
    return f"cannot connect to {where}: {hint}. ({str(exc.orig).strip().splitlines()[0]})"


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
