"""Expand: add country.population, an INTEGER, and index it while blocking writes.

squawk flags both; the contract k1, which depends on this revision, flags neither of them
itself, and accepts the blocking index for its own index alone. So both findings are this
revision's, and only this revision's.

Revision ID: e1
Revises: c1
"""

import sqlalchemy as sa
from alembic import op

revision = "e1"
down_revision = "c1"
branch_labels = ("expand",)
depends_on = None


def upgrade() -> None:
    op.add_column("country", sa.Column("population", sa.Integer))
    op.create_index("ix_country_population", "country", ["population"])


def downgrade() -> None:
    op.drop_index("ix_country_population", table_name="country")
    op.drop_column("country", "population")
