"""Country use cases, as plain synchronous SQLAlchemy on a `Connection`.

The app runs the writes with `Database.transaction`, so a use case that grows a second
statement stays all or nothing; the two reads are single statements, run with
`Database.autocommit_read`.

Columns are named through the mapped class (`Country.common_name`), never by strings, so
renaming a model attribute fails `mypy --strict` here instead of failing at start-up.
"""

from collections.abc import Sequence
from typing import Any, TypedDict

from sqlalchemy import Connection, RowMapping, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import InstrumentedAttribute

from alembic_stuff import iso
from alembic_stuff.errors import ConflictError, InvalidInputError, NotFoundError
from alembic_stuff.models import Country
from alembic_stuff.schemas import CountryCreate, CountryUpdate

# What a body-less POST /country creates: the original demo's record.
DEMO_COUNTRY_CODE = "GB"

CountryRow = RowMapping
"""A country as a mapping of attribute name to value."""

# Statements are built once, with bind parameters: building one per request, and SQLAlchemy
# deriving its cache key from the literal values, cost more than executing it. They are Core
# statements on the model's columns, returning plain rows: the ORM's identity map and object
# construction buy nothing for a row that is serialised at once.
COLUMNS: tuple[InstrumentedAttribute[Any], ...] = (
    Country.code,
    Country.alpha_3,
    Country.numeric_code,
    Country.common_name,
    Country.official_name,
)
"""What every use case returns of a country, in this order."""
# Each under its attribute's name, which the API publishes: a column renamed in the database
# alone (`mapped_column("display_name", ...)` on `common_name`) must not rename the row's key.
_RETURNED = tuple(column.label(column.key) for column in COLUMNS)
# Not named "code": in an UPDATE that name would stand for the SET value of the column.
_code_is = Country.code == bindparam("match_code")
_by_code = select(*_RETURNED).where(_code_is)
_first_page = select(*_RETURNED).order_by(Country.code).limit(bindparam("limit"))
_page_after = _first_page.where(Country.code > bindparam("after"))
# ON CONFLICT DO NOTHING: a duplicate (even one racing in from another request) comes back as
# no row rather than as an error that would poison the transaction. No conflict target, so
# that it covers every unique constraint: with only `code` as the target, a country re-created
# by two requests at once after a DELETE could still violate the unique `alpha_3`.
_insert = (
    insert(Country)
    .values({column: bindparam(column.key) for column in COLUMNS})
    .on_conflict_do_nothing()
    .returning(*_RETURNED)
)
_delete = delete(Country).where(_code_is).returning(Country.code)


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
        return Page(items=rows[:limit], next_after=str(rows[limit - 1][Country.code.key]))
    return Page(items=rows, next_after=None)


def create_country(connection: Connection, data: CountryCreate | None) -> CountryRow:
    """Create a country from its code, completed from ISO 3166; the demo record without data."""
    data = data or CountryCreate(code=DEMO_COUNTRY_CODE)
    entry = iso.lookup(data.code)
    if entry is None:  # the HTTP schema refuses these first; other callers meet this
        raise InvalidInputError(f"{data.code} is not an ISO 3166-1 alpha-2 country code.")
    # Keyed by the bind parameters _insert names after the columns.
    values = {
        Country.code.key: entry.alpha_2,
        Country.alpha_3.key: entry.alpha_3,
        Country.numeric_code.key: entry.numeric,
        Country.common_name.key: data.common_name or entry.name,
        Country.official_name.key: data.official_name or entry.official_name,
    }
    row = connection.execute(_insert, values).mappings().one_or_none()
    if row is None:
        raise ConflictError(f"Country {entry.alpha_2} already exists.")
    return row


def update_country(connection: Connection, code: str, changes: CountryUpdate) -> CountryRow:
    """Change the names of the country with `code`; fields not sent are left alone."""
    # The API's field names are its contract with clients; the columns they set are the model's.
    sent = changes.model_fields_set
    values: dict[InstrumentedAttribute[Any], str | None] = {}
    if "common_name" in sent:
        values[Country.common_name] = changes.common_name
    if "official_name" in sent:
        values[Country.official_name] = changes.official_name
    statement = (
        update(Country).where(_code_is).values(values).returning(*_RETURNED) if values else _by_code
    )
    row = connection.execute(statement, {"match_code": code.upper()}).mappings().one_or_none()
    if row is None:
        raise _not_found(code.upper())
    return row


def delete_country(connection: Connection, code: str) -> None:
    """Delete the country with `code`."""
    if connection.execute(_delete, {"match_code": code.upper()}).scalar_one_or_none() is None:
        raise _not_found(code.upper())
