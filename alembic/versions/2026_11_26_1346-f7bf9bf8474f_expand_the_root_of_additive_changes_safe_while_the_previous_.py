"""Expand branch: additive changes, safe while the previous release serves.

The root of the `expand` branch (`alembic-revision` writes here by default): each revision
after it only adds, so the release before it keeps working while it runs (`alembic-expand`).

Revision ID: f7bf9bf8474f
Revises: e1a8f3b6c5d2
Create Date: 2026-11-26 13:46:32.762167+00:00
"""

from collections.abc import Sequence

revision: str = "f7bf9bf8474f"
down_revision: str | Sequence[str] | None = "e1a8f3b6c5d2"
branch_labels: str | Sequence[str] | None = ("expand",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
