"""Add the ISO 3166-1 alpha-3, numeric and official-name columns, filled in from ISO data.

A schema change and a data migration in one revision: the columns are added nullable, every
existing row is completed from ISO 3166 (pycountry) in one set-based UPDATE, and only then are
the columns made NOT NULL and unique. The UPDATE is written against an `sa.table()` snapshot of
the table as it is at this revision, never against today's ORM model, which will have moved on.

Revision ID: 9c4d7e2f1b38
Revises: 5b2e0c1d9a47
Create Date: 2026-11-25 21:20:00.000000+00:00
"""

from collections.abc import Sequence

import pycountry
import sqlalchemy as sa
from alembic import context, op

revision: str = "9c4d7e2f1b38"
down_revision: str | Sequence[str] | None = "5b2e0c1d9a47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Checked by `pipenv run migrations-check`: the data this revision destroys, and why.
destroys_data = {
    "downgrade: drop_column country.alpha_3": "ISO 3166 data: the upgrade recomputes it",
    "downgrade: drop_column country.numeric_code": "ISO 3166 data: the upgrade recomputes it",
    "downgrade: drop_column country.official_name": (
        "the upgrade recomputes it from ISO 3166; edits made through PATCH are lost"
    ),
}
# Checked by `pipenv run migrations-lint`: squawk rules this revision breaks, and why.
squawk_accepts = {
    "adding-not-nullable-field": "country has at most 249 rows: the scan takes milliseconds",
    "constraint-missing-not-valid": "country has at most 249 rows: the scan takes milliseconds",
    "disallowed-unique-constraint": "country has at most 249 rows: the index builds at once",
}

country = sa.table(
    "country",
    sa.column("code", sa.String),
    sa.column("alpha_3", sa.String),
    sa.column("numeric_code", sa.String),
    sa.column("official_name", sa.String),
)


def upgrade() -> None:
    op.add_column("country", sa.Column("alpha_3", sa.String(length=3), nullable=True))
    op.add_column("country", sa.Column("numeric_code", sa.String(length=3), nullable=True))
    op.add_column("country", sa.Column("official_name", sa.String(length=200), nullable=True))

    iso = sa.values(
        sa.column("code", sa.String),
        sa.column("alpha_3", sa.String),
        sa.column("numeric_code", sa.String),
        sa.column("official_name", sa.String),
        name="iso",
    ).data(
        [
            (c.alpha_2, c.alpha_3, c.numeric, getattr(c, "official_name", None))
            for c in pycountry.countries
        ]
    )
    op.execute(
        country.update()
        .where(country.c.code == iso.c.code)
        .values(
            alpha_3=iso.c.alpha_3,
            numeric_code=iso.c.numeric_code,
            official_name=iso.c.official_name,
        )
    )
    if not context.is_offline_mode():
        _refuse_unknown_codes()

    op.alter_column("country", "alpha_3", existing_type=sa.String(length=3), nullable=False)
    op.alter_column("country", "numeric_code", existing_type=sa.String(length=3), nullable=False)
    op.create_unique_constraint(op.f("uq_country_alpha_3"), "country", ["alpha_3"])
    op.create_unique_constraint(op.f("uq_country_numeric_code"), "country", ["numeric_code"])
    op.create_check_constraint(
        op.f("ck_country_alpha_3_is_alpha_3"), "country", "alpha_3 ~ '^[A-Z]{3}$'"
    )
    op.create_check_constraint(
        op.f("ck_country_numeric_code_is_3_digits"), "country", "numeric_code ~ '^[0-9]{3}$'"
    )


def _refuse_unknown_codes() -> None:
    """Stop, with the codes named, if a row has a code ISO 3166 does not know."""
    unknown = (
        op.get_bind()
        .execute(sa.select(country.c.code).where(country.c.alpha_3.is_(None)).limit(20))
        .scalars()
        .all()
    )
    if unknown:
        raise RuntimeError(
            "these country codes are not in ISO 3166-1, so their new columns cannot be filled "
            f"in: {', '.join(unknown)}. Correct or delete those rows, then upgrade again."
        )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_country_numeric_code_is_3_digits"), "country", type_="check")
    op.drop_constraint(op.f("ck_country_alpha_3_is_alpha_3"), "country", type_="check")
    op.drop_constraint(op.f("uq_country_numeric_code"), "country", type_="unique")
    op.drop_constraint(op.f("uq_country_alpha_3"), "country", type_="unique")
    op.drop_column("country", "official_name")
    op.drop_column("country", "numeric_code")
    op.drop_column("country", "alpha_3")
