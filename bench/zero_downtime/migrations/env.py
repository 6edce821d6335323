"""The migration environment of the zero-downtime proof: its own `item` table, not the project's.

The database comes from ZERO_DOWNTIME_DATABASE_URL (a psycopg URL). One transaction per
revision, as the project's environment runs them, so that the expand and contract revisions
commit on their own and the helpers' autocommit blocks have a transaction to step out of.
A caller generating revisions (bench/zero_downtime/generated.py) hands the models to compare
with in `config.attributes["target_metadata"]`, and gets the toolkit's autogenerate options,
as the project's alembic/env.py does. The tests' scratch Alembic projects
(tests/databases.py) run on this file too.
"""

import os

from alembic import context
from alembic_toolkit.environment import autogenerate_options
from sqlalchemy import MetaData, create_engine, pool

url = os.environ["ZERO_DOWNTIME_DATABASE_URL"]
target_metadata: MetaData | None = context.config.attributes.get("target_metadata")
comparing = (
    {}
    if target_metadata is None
    else {
        "target_metadata": target_metadata,
        **autogenerate_options(context.config, target_metadata),
    }
)
if context.is_offline_mode():
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True, **comparing)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
