"""Zero-downtime schema changes for Alembic revisions: the building blocks of expand/contract.

Call them from a revision's `upgrade()` or `downgrade()`; they act through Alembic's `op`.
This package imports nothing from the project using it (only alembic, sqlalchemy and the
standard library), so it can be copied into any project whose migrations run on PostgreSQL.

- `with_lock_retries`: DDL under a short lock_timeout, retried with backoff, failing in one
  line that names the blocking session;
- `backfill`: fill columns in committed primary-key batches, resumable after a kill;
- `create_index_concurrently` / `drop_index_concurrently`: idempotent, cleaning up an INVALID
  index left by a failed attempt, and refusing another index that holds the name;
- `add_check_constraint` / `add_foreign_key`: NOT VALID, then VALIDATE, each step committed
  (a foreign key refusing another constraint that holds its name);
- `create_sync_triggers` / `drop_sync_triggers`: keep an old and a new column equal while two
  releases write them;
- `rename_index` / `rename_constraint`: renames a re-run finds done and skips.
"""

from alembic_toolkit.zerodowntime.backfill import BackfillResult, backfill, forget_backfill
from alembic_toolkit.zerodowntime.constraints import (
    add_check_constraint,
    add_foreign_key,
    constraint_state,
)
from alembic_toolkit.zerodowntime.errors import ZeroDowntimeError
from alembic_toolkit.zerodowntime.indexes import (
    create_index_concurrently,
    drop_index_concurrently,
    index_state,
)
from alembic_toolkit.zerodowntime.lock_retries import LockRetries, with_lock_retries
from alembic_toolkit.zerodowntime.object_renames import rename_constraint, rename_index
from alembic_toolkit.zerodowntime.progress import Progress, StreamProgress
from alembic_toolkit.zerodowntime.sync import create_sync_triggers, drop_sync_triggers, sync_names

__all__ = [
    "BackfillResult",
    "LockRetries",
    "Progress",
    "StreamProgress",
    "ZeroDowntimeError",
    "add_check_constraint",
    "add_foreign_key",
    "backfill",
    "constraint_state",
    "create_index_concurrently",
    "create_sync_triggers",
    "drop_index_concurrently",
    "drop_sync_triggers",
    "forget_backfill",
    "index_state",
    "rename_constraint",
    "rename_index",
    "sync_names",
    "with_lock_retries",
]
