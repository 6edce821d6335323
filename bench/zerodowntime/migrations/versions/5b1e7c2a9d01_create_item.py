"""Create item: the table release N serves, its name in the column `label`.

Revision ID: 5b1e7c2a9d01
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "5b1e7c2a9d01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("item")
