"""Contract: drop the sync trigger and item.label, now that no release reads or writes it.

Only once every replica of release N has stopped: release N reads `label`. It depends on the
last expand revision, so it can never run before the expand is complete.

Revision ID: 9d8e2f4a6b13
Revises: 5b1e7c2a9d01
Depends on: 8a4b6c2d0e17
"""

import sqlalchemy as sa
from alembic import op
from alembic_toolkit import zerodowntime as zd

revision = "9d8e2f4a6b13"
down_revision = "5b1e7c2a9d01"
branch_labels = ("contract",)
depends_on = "8a4b6c2d0e17"

RETRIES = zd.LockRetries(attempts=60, lock_timeout=0.03, max_lock_timeout=0.03, max_backoff=0.5)
SYNC = zd.sync_names("item", "label", "name")

# For the destructive-change guard (migrations-check): the data this revision destroys, and why.
destroys_data = {
    "upgrade: drop_column item.label": (
        "release N+1 reads and writes item.name, which the expand revisions have kept equal "
        "to item.label since they ran; no release reading label serves any more"
    ),
}


def upgrade() -> None:
    def drop_label() -> None:
        # One lock, one transaction: no write may land once the trigger is gone while
        # `label` is still there, NOT NULL with nothing to fill it.
        op.execute(f"DROP TRIGGER IF EXISTS {SYNC.trigger} ON item")
        op.execute(f"DROP FUNCTION IF EXISTS {SYNC.function}()")
        # The valid CHECK constraint proves there is no NULL: SET NOT NULL skips the scan.
        op.alter_column("item", "name", nullable=False)
        op.drop_constraint("ck_item_name_not_null", "item", type_="check")
        op.drop_column("item", "label")

    zd.with_lock_retries(drop_label, RETRIES)


def downgrade() -> None:
    def restore_label() -> None:
        op.add_column("item", sa.Column("label", sa.Text), if_not_exists=True)
        op.alter_column("item", "name", nullable=True)

    def label_not_null() -> None:
        op.alter_column("item", "label", nullable=False)
        op.drop_constraint("ck_item_label_not_null", "item", type_="check")

    # Back to the expand state, as online as the way here: `label` again, kept equal to
    # `name` by the same trigger, filled in batches, NOT NULL proved before it is declared.
    zd.add_check_constraint("ck_item_name_not_null", "item", "name IS NOT NULL", retries=RETRIES)
    zd.with_lock_retries(restore_label, RETRIES)
    zd.create_sync_triggers("item", "label", "name", retries=RETRIES)
    zd.backfill("item", {"label": "name"}, batch_size=500)
    zd.add_check_constraint("ck_item_label_not_null", "item", "label IS NOT NULL", retries=RETRIES)
    zd.with_lock_retries(label_not_null, RETRIES)
    zd.forget_backfill("item.label")
