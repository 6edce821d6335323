"""Create today's country table, but with one constraint named as PostgreSQL names it.

Revision ID: m1
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "m1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "country",
        sa.Column("code", sa.String(2), nullable=False),
        sa.Column("common_name", sa.String(100), nullable=False),
        sa.Column("alpha_3", sa.String(3), nullable=False),
        sa.Column("numeric_code", sa.String(3), nullable=False),
        sa.Column("official_name", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("code", name="pk_country"),
        # The models' naming convention says uq_country_alpha_3.
        sa.UniqueConstraint("alpha_3", name="country_alpha_3_key"),
        sa.UniqueConstraint("numeric_code", name="uq_country_numeric_code"),
        sa.CheckConstraint("code ~ '^[A-Z]{2}$'", name="ck_country_code_is_alpha_2"),
        sa.CheckConstraint("alpha_3 ~ '^[A-Z]{3}$'", name="ck_country_alpha_3_is_alpha_3"),
        sa.CheckConstraint(
            "numeric_code ~ '^[0-9]{3}$'", name="ck_country_numeric_code_is_3_digits"
        ),
    )


def downgrade() -> None:
    op.drop_table("country")
