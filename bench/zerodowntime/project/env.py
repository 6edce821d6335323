"""The migration environment of the proof's generated history: a project using the toolkit.

bench/zerodowntime/generated.py copies this file, with script.py.mako beside it, into the
scratch history it generates the expand/contract pair in: an env.py as the README's "Use the
toolkit in your own Alembic project" makes `alembic init`'s, so that the proof deploys what a
project of its readers would. Its database comes from ZERO_DOWNTIME_DATABASE_URL (a psycopg
URL, always PostgreSQL itself: the migration lock cannot live behind a transaction pooler);
the models to compare with, when generating, from `config.attributes["target_metadata"]`.
"""

import os

from alembic import context
from alembic_toolkit import objects
from alembic_toolkit.environment import autogenerate_options, guarded_migration
from alembic_toolkit.ledger import record_applied
from alembic_toolkit.lock import lock_key
from alembic_toolkit.timeouts import MigrationLimits, timeout_statements
from sqlalchemy import MetaData, create_engine, pool

config = context.config
url = os.environ["ZERO_DOWNTIME_DATABASE_URL"]
target_metadata: MetaData | None = config.attributes.get("target_metadata")
LIMITS = MigrationLimits(lock_wait_seconds=60, lock_timeout_seconds=5)


def run_migrations_offline() -> None:
    """Write the migrations' SQL, one transaction per revision, recorded as online."""
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
        on_version_apply=record_applied(context.script),
    )
    for statement in (*timeout_statements(LIMITS), *objects.statements()):
        context.execute(statement)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations under the migration lock and limits, one transaction per revision."""
    engine = create_engine(url, poolclass=pool.NullPool)
    with (
        engine.connect() as connection,
        guarded_migration(connection, lock_key=lock_key("zero-downtime-proof"), limits=LIMITS),
    ):
        options = {} if target_metadata is None else autogenerate_options(config, target_metadata)
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            transaction_per_migration=True,
            # Each step records what it applied, with its branch: what /ready reads.
            on_version_apply=record_applied(context.script),
            **options,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
