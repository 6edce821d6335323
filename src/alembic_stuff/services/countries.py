"""Country use cases, as plain synchronous SQLAlchemy on a `Connection`.

Each one, read or write, executes exactly one statement, and PostgreSQL runs a statement
atomically: the app runs them with `Database.run`, in autocommit, so each is a transaction of
its own without a BEGIN and a COMMIT round trip around it. A use case that needs two
statements to stand or fall together belongs in `Database.transaction` instead.
"""

from collections.abc import Sequence
from typing import TypedDict

from sqlalchemy import Connection, RowMapping, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert

from alembic_stuff import iso
from alembic_stuff.errors import ConflictError, InvalidInputError, NotFoundError
from alembic_stuff.models import Country
from alembic_stuff.schemas import CountryCreate, CountryUpdate

# What a body-less POST /country creates: the original demo's record.
DEMO_COUNTRY_CODE = "GB"

CountryRow = RowMapping
"""A country as a mapping of column name to value."""

# Statements are built once, with bind parameters: building one per request, and SQLAlchemy
# deriving its cache key from the literal values, cost more than executing it. They are Core
# statements on the model's table, returning plain rows: the ORM's identity map and object
# construction buy nothing for a row that is serialised at once.
_table = Country.metadata.tables[Country.__tablename__]
_names = ("code", "alpha_3", "numeric_code", "common_name", "official_name")
_columns = [_table.c[name] for name in _names]
# Not named "code": in an UPDATE that name would stand for the SET value of the column.
_code_is = _table.c.code == bindparam("match_code")
_by_code = select(*_columns).where(_code_is)
_first_page = select(*_columns).order_by(_table.c.code).limit(bindparam("limit"))
_page_after = _first_page.where(_table.c.code > bindparam("after"))
# ON CONFLICT DO NOTHING: a duplicate (even one racing in from another request) comes back as
# no row rather than as an error that would poison the transaction. No conflict target, so
# that it covers every unique constraint: with only `code` as the target, a country re-created
# by two requests at once after a DELETE could still violate the unique `alpha_3`.
_insert = (
    insert(_table)
    .values({name: bindparam(name) for name in _names})
    .on_conflict_do_nothing()
    .returning(*_columns)
)
_delete = delete(_table).where(_code_is).returning(_table.c.code)


class Page(TypedDict):
    """A page of countries and the cursor of the next one (None on the last page)."""

    items: Sequence[CountryRow]
    next_after: str | None


def _not_found(code: str) -> NotFoundError:
    return NotFoundError(f"No country with code {code} exists yet.")


def get_country(connection: Connection, code: str) -> CountryRow:
    """Return the country with alpha-2 `code` (any case)."""
    row = connection.execute(_by_code, {"match_code": code.upper()}).mappings().one_or_none()
    if row is None:
        raise _not_found(code.upper())
    return row


def list_countries(connection: Connection, *, limit: int, after: str | None = None) -> Page:
    """Return up to `limit` countries in code order after `after`, and the next cursor."""
    # One row more than asked for tells whether there is a next page.
    if after is None:
        result = connection.execute(_first_page, {"limit": limit + 1})
    else:
        result = connection.execute(_page_after, {"limit": limit + 1, "after": after.upper()})
    rows = result.mappings().all()
    if len(rows) > limit:
        return Page(items=rows[:limit], next_after=str(rows[limit - 1]["code"]))
    return Page(items=rows, next_after=None)


def create_country(connection: Connection, data: CountryCreate | None) -> CountryRow:
    """Create a country from its code, completed from ISO 3166; the demo record without data."""
    data = data or CountryCreate(code=DEMO_COUNTRY_CODE)
    entry = iso.lookup(data.code)
    if entry is None:  # the HTTP schema refuses these first; other callers meet this
        raise InvalidInputError(f"{data.code} is not an ISO 3166-1 alpha-2 country code.")
    values = {
        "code": entry.alpha_2,
        "alpha_3": entry.alpha_3,
        "numeric_code": entry.numeric,
        "common_name": data.common_name or entry.name,
        "official_name": data.official_name or entry.official_name,
    }
    row = connection.execute(_insert, values).mappings().one_or_none()
    if row is None:
        raise ConflictError(f"Country {entry.alpha_2} already exists.")
    return row


def update_country(connection: Connection, code: str, changes: CountryUpdate) -> CountryRow:
    """Change the names of the country with `code`; fields not sent are left alone."""
    values = changes.model_dump(exclude_unset=True)
    statement = (
        update(_table).where(_code_is).values(**values).returning(*_columns) if values else _by_code
    )
    row = connection.execute(statement, {"match_code": code.upper()}).mappings().one_or_none()
    if row is None:
        raise _not_found(code.upper())
    return row


def delete_country(connection: Connection, code: str) -> None:
    """Delete the country with `code`."""
    if connection.execute(_delete, {"match_code": code.upper()}).scalar_one_or_none() is None:
        raise _not_found(code.upper())
