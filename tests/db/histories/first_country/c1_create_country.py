"""Create the country table as the project's first revision did, and stop there.

On its own, the `drift` history: today's models have moved on from this table. It is also the
root that `loses_data` and `misnamed` build on.

Revision ID: c1
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "c1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "country",
        sa.Column("code", sa.String(2), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.CheckConstraint("code ~ '^[A-Z]{2}$'", name="ck_country_code_is_alpha_2"),
        sa.PrimaryKeyConstraint("code", name="pk_country"),
    )


def downgrade() -> None:
    op.drop_table("country")
