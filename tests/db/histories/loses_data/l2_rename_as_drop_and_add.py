"""Rename name to common_name the way autogenerate writes it: drop, then add.

Revision ID: l2
Revises: c1
"""

import sqlalchemy as sa
from alembic import op

revision = "l2"
down_revision = "c1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("country", sa.Column("common_name", sa.String(100), nullable=True))
    op.drop_column("country", "name")


def downgrade() -> None:
    op.add_column("country", sa.Column("name", sa.String(100), nullable=True))
    op.drop_column("country", "common_name")
