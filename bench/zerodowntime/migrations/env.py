"""The migration environment of the zero-downtime proof: its own `item` table, not the project's.

The database comes from ZERO_DOWNTIME_DATABASE_URL (a psycopg URL). One transaction per
revision, as the project's environment runs them, so that the expand and contract revisions
commit on their own and the helpers' autocommit blocks have a transaction to step out of.
"""

import os

from alembic import context
from sqlalchemy import create_engine, pool

url = os.environ["ZERO_DOWNTIME_DATABASE_URL"]
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
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
