"""Bring the country table to today's schema, but with one constraint named as PostgreSQL names it.

Revision ID: m2
Revises: c1
"""

import sqlalchemy as sa
from alembic import op

revision = "m2"
down_revision = "c1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("country", "name", new_column_name="common_name")
    op.add_column("country", sa.Column("alpha_3", sa.String(3), nullable=False))
    op.add_column("country", sa.Column("numeric_code", sa.String(3), nullable=False))
    op.add_column("country", sa.Column("official_name", sa.String(200), nullable=True))
    # The models' naming convention says uq_country_alpha_3.
    op.create_unique_constraint("country_alpha_3_key", "country", ["alpha_3"])
    op.create_unique_constraint("uq_country_numeric_code", "country", ["numeric_code"])
    op.create_check_constraint("ck_country_alpha_3_is_alpha_3", "country", "alpha_3 ~ '^[A-Z]{3}$'")
    op.create_check_constraint(
        "ck_country_numeric_code_is_3_digits", "country", "numeric_code ~ '^[0-9]{3}$'"
    )


def downgrade() -> None:
    # Dropping a column drops the constraints on it.
    for column in ("official_name", "numeric_code", "alpha_3"):
        op.drop_column("country", column)
    op.alter_column("country", "common_name", new_column_name="name")
