"""Create the country table.

Revision ID: 5b2e0c1d9a47
Revises:
Create Date: 2026-11-25 21:16:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b2e0c1d9a47"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Checked by `pipenv run migrations-check`: the data this revision destroys, and why.
destroys_data = {
    "downgrade: drop_table country": (
        "downgrading past the first revision removes the schema itself, rows and all; "
        "do it only to a database you can rebuild"
    ),
}


def upgrade() -> None:
    op.create_table(
        "country",
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.CheckConstraint("code ~ '^[A-Z]{2}$'", name=op.f("ck_country_code_is_alpha_2")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_country")),
    )


def downgrade() -> None:
    op.drop_table("country")
