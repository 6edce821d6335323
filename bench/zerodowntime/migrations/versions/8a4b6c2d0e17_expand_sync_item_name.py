"""Expand, step 2: keep item.name equal to item.label, and fill it in.

The sync trigger first, so that every write from now on, through either release, sets both
columns; then the batched backfill copies `label` into `name` for the rows written before,
committing batch by batch (resumable after a kill); then a CHECK that `name` is set,
validated without blocking writes, so that contract's SET NOT NULL needs no scan. Once this
is applied, release N+1 (which reads and writes `name`) can serve beside release N.

Revision ID: 8a4b6c2d0e17
Revises: 7c3f9a1b2e45
"""

from alembic import op
from alembic_toolkit import zerodowntime as zd

revision = "8a4b6c2d0e17"
down_revision = "7c3f9a1b2e45"
branch_labels = None
depends_on = None

RETRIES = zd.LockRetries(attempts=60, lock_timeout=0.03, max_lock_timeout=0.03, max_backoff=0.5)


def upgrade() -> None:
    zd.create_sync_triggers("item", "label", "name", retries=RETRIES)
    # Small batches: a batch holds its rows' locks until it commits, and a request writing
    # one of them waits that long.
    zd.backfill("item", {"name": "label"}, batch_size=500)
    zd.add_check_constraint("ck_item_name_not_null", "item", "name IS NOT NULL", retries=RETRIES)


def downgrade() -> None:
    zd.with_lock_retries(
        lambda: op.drop_constraint("ck_item_name_not_null", "item", type_="check"), RETRIES
    )
    zd.drop_sync_triggers("item", "label", "name", retries=RETRIES)
    zd.forget_backfill("item.name")
