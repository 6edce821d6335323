"""Rename country.name to country.common_name, keeping its data.

Renaming the attribute in `models.py` and running `alembic revision --autogenerate` writes
this, because autogenerate only sees a column that vanished and one that appeared:

    op.add_column("country", sa.Column("common_name", sa.String(length=100), nullable=False))
    op.drop_column("country", "name")

Run as written, it cannot keep the data: on a table with rows the ADD fails (NOT NULL and no
default), and had the column been nullable, every name would have been dropped in silence. The
fix is to edit the script into a rename, in both directions: it keeps every value, and it only
changes the catalogue, so it is instant whatever the size of the table.

Revision ID: e1a8f3b6c5d2
Revises: 9c4d7e2f1b38
Create Date: 2026-11-25 21:25:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e1a8f3b6c5d2"
down_revision: str | Sequence[str] | None = "9c4d7e2f1b38"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Checked by `pipenv run migrations-lint`: squawk rules this revision breaks, and why.
squawk_accepts = {
    "renaming-column": "the API, the column's only client, is released together with this revision",
}


def upgrade() -> None:
    op.alter_column("country", "name", new_column_name="common_name")


def downgrade() -> None:
    op.alter_column("country", "common_name", new_column_name="name")
