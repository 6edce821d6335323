"""Country use cases: reads take a connection; each write is one transaction, which it commits.

They are plain synchronous SQLAlchemy: the app runs them through `Database.read` and
`Database.write`, which cross into them from async code once per request.
"""

from collections.abc import Sequence

from sqlalchemy import Connection, RowMapping, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alembic_stuff import iso
from alembic_stuff.errors import ConflictError, InvalidInputError, NotFoundError
from alembic_stuff.models import Country
from alembic_stuff.schemas import CountryCreate, CountryUpdate

# What a body-less POST /country creates: the original demo's record.
DEMO_COUNTRY_CODE = "GB"

CountryRow = RowMapping
"""A country read with SQLAlchemy Core: a mapping of column name to value."""

# Reads go through Core on a plain connection: the same SQL as the ORM's, without the
# identity map and object construction that a read-only request has no use for.
_table = Country.__table__
_columns = [
    _table.c[name] for name in ("code", "alpha_3", "numeric_code", "common_name", "official_name")
]
_by_code = select(*_columns).where(_table.c.code == bindparam("code"))


def _not_found(code: str) -> NotFoundError:
    return NotFoundError(f"No country with code {code} exists yet.")


def get_country(connection: Connection, code: str) -> CountryRow:
    """Return the country with alpha-2 `code` (any case)."""
    row = connection.execute(_by_code, {"code": code.upper()}).mappings().one_or_none()
    if row is None:
        raise _not_found(code.upper())
    return row


def list_countries(
    connection: Connection, *, limit: int, after: str | None = None
) -> tuple[Sequence[CountryRow], str | None]:
    """Return up to `limit` countries in code order after `after`, and the next cursor."""
    statement = select(*_columns).order_by(_table.c.code).limit(limit + 1)
    if after is not None:
        statement = statement.where(_table.c.code > after.upper())
    rows = connection.execute(statement).mappings().all()
    if len(rows) > limit:
        return rows[:limit], str(rows[limit - 1]["code"])
    return rows, None


def create_country(session: Session, data: CountryCreate | None) -> Country:
    """Create a country from its code, completed from ISO 3166; the demo record without data."""
    data = data or CountryCreate(code=DEMO_COUNTRY_CODE)
    entry = iso.lookup(data.code)
    if entry is None:  # the HTTP schema refuses these first; other callers meet this
        raise InvalidInputError(f"{data.code} is not an ISO 3166-1 alpha-2 country code.")
    # ON CONFLICT DO NOTHING: a duplicate (even one racing in from another request) comes back
    # as no row rather than as an error that would poison the transaction.
    statement = (
        insert(Country)
        .values(
            code=entry.alpha_2,
            alpha_3=entry.alpha_3,
            numeric_code=entry.numeric,
            common_name=data.common_name or entry.name,
            official_name=data.official_name or entry.official_name,
        )
        .on_conflict_do_nothing(index_elements=[Country.code])
        .returning(Country)
    )
    country = session.scalars(statement).one_or_none()
    if country is None:
        raise ConflictError(f"Country {entry.alpha_2} already exists.")
    session.commit()
    return country


def update_country(session: Session, code: str, changes: CountryUpdate) -> Country:
    """Change the names of the country with `code`; fields not sent are left alone."""
    values = changes.model_dump(exclude_unset=True)
    if not values:
        country = session.get(Country, code.upper())
        if country is None:
            raise _not_found(code.upper())
        return country
    statement = (
        update(Country).where(Country.code == code.upper()).values(**values).returning(Country)
    )
    country = session.scalars(statement).one_or_none()
    if country is None:
        raise _not_found(code.upper())
    session.commit()
    return country


def delete_country(session: Session, code: str) -> None:
    """Delete the country with `code`."""
    result = session.execute(
        delete(Country).where(Country.code == code.upper()).returning(Country.code)
    )
    if result.scalar_one_or_none() is None:
        raise _not_found(code.upper())
    session.commit()
