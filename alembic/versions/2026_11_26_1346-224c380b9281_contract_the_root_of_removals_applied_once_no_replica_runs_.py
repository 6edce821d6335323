"""Contract branch: removals, once no replica runs the previous release.

The root of the `contract` branch (`alembic-revision --contract`): each revision after it
removes what the releases up to its expand (its depends_on) stopped using, and runs once no
replica of an older release serves (`alembic-contract`).

Revision ID: 224c380b9281
Revises: e1a8f3b6c5d2
Create Date: 2026-11-26 13:46:40.664955+00:00
"""

from collections.abc import Sequence

revision: str = "224c380b9281"
down_revision: str | Sequence[str] | None = "e1a8f3b6c5d2"
branch_labels: str | Sequence[str] | None = ("contract",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
