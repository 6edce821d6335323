"""Create the country table as it was at the first revision, and stop there.

Revision ID: d1
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "d1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "country",
        sa.Column("code", sa.String(2), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("country")
