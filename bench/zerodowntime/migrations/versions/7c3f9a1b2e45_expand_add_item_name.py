"""Expand, step 1: add item.name, empty, beside item.label.

Safe while release N (which reads and writes `label`) serves: a column with no default is
added without rewriting the table. ADD COLUMN needs an ACCESS EXCLUSIVE lock, for
milliseconds, and every request on `item` queues behind it while it waits: so it waits under
lock retries, and in a revision (a transaction) of its own, so that it holds the lock for
this one statement only.

Revision ID: 7c3f9a1b2e45
Revises: 5b1e7c2a9d01
"""

import sqlalchemy as sa
from alembic import op
from alembic_toolkit import zerodowntime as zd

revision = "7c3f9a1b2e45"
down_revision = "5b1e7c2a9d01"
branch_labels = ("expand",)
depends_on = None

# No attempt waits longer than 30 ms: the requests queued behind it wait no longer than that
# plus the statement and its commit; after 60 attempts (about 30 s) the revision fails,
# naming the blocker.
RETRIES = zd.LockRetries(attempts=60, lock_timeout=0.03, max_lock_timeout=0.03, max_backoff=0.5)


def upgrade() -> None:
    zd.with_lock_retries(
        lambda: op.add_column("item", sa.Column("name", sa.Text), if_not_exists=True), RETRIES
    )


def downgrade() -> None:
    # `name` is a copy of `label`, which still holds every value.
    zd.with_lock_retries(lambda: op.drop_column("item", "name"), RETRIES)
