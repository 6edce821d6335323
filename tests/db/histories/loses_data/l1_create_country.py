"""Create a country table with a name.

Revision ID: l1
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "l1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "country",
        sa.Column("code", sa.String(2), primary_key=True),
        sa.Column("name", sa.String(100), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("country")
