"""Create table thing, and forget it on the way down.

Revision ID: n1
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "n1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("thing", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    pass
