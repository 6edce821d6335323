"""Contract: index the codes in reverse, and drop country.name, once e1 is applied.

It accepts a blocking index for its own index; its drop of a column, accepted by nothing, is
its one finding.

Revision ID: k1
Revises: c1
"""

import sqlalchemy as sa
from alembic import op

revision = "k1"
down_revision = "c1"
branch_labels = ("contract",)
depends_on = "e1"

squawk_accepts = {
    "require-concurrent-index-creation": "k1's own index, built while no release writes",
}


def upgrade() -> None:
    op.create_index("ix_country_code_desc", "country", [sa.text("code DESC")])
    op.drop_column("country", "name")


def downgrade() -> None:
    op.add_column("country", sa.Column("name", sa.String(100)))
    op.drop_index("ix_country_code_desc", table_name="country")
