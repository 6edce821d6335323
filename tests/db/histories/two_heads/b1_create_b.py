"""Create table b: a second root, beside first_country's c1.

Revision ID: b1
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "b1"
down_revision = None
branch_labels = ("other",)
depends_on = None


def upgrade() -> None:
    op.create_table("b", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("b")
