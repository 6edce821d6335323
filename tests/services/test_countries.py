"""The use cases on their own: plain synchronous SQLAlchemy, here on psycopg instead of asyncpg.

The API tests cover them through HTTP; these show they need nothing from the web layer or
the async driver, and cover what HTTP cannot reach (the schema refuses it first).
"""

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, create_engine, inspect, text

from alembic_stuff.errors import ConflictError, InvalidInputError, NotFoundError
from alembic_stuff.models import Country
from alembic_stuff.schemas import CountryCreate, CountryRead, CountryUpdate
from alembic_stuff.services import countries
from alembic_stuff.settings import Settings


@pytest.fixture
def connection(settings: Settings) -> Iterator[Connection]:
    """A psycopg connection to the migrated database, in a transaction rolled back after."""
    engine = create_engine(settings.migration_url)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                yield connection
            finally:
                transaction.rollback()
    finally:
        engine.dispose()


def test_create_read_update_delete(connection: Connection) -> None:
    created = countries.create_country(connection, None)
    assert created["code"] == countries.DEMO_COUNTRY_CODE
    assert countries.get_country(connection, "gb") == created
    renamed = countries.update_country(connection, "GB", CountryUpdate(common_name="Britain"))
    assert renamed["common_name"] == "Britain"
    assert renamed["official_name"] == created["official_name"]
    countries.delete_country(connection, "GB")
    with pytest.raises(NotFoundError, match="GB"):
        countries.get_country(connection, "GB")


def test_a_duplicate_is_a_conflict_and_changes_nothing(connection: Connection) -> None:
    countries.create_country(connection, CountryCreate(code="FR", common_name="France"))
    with pytest.raises(ConflictError, match="FR"):
        countries.create_country(connection, CountryCreate(code="FR", common_name="Other"))
    assert countries.get_country(connection, "FR")["common_name"] == "France"


def test_a_code_outside_iso_3166_is_refused_by_name(connection: Connection) -> None:
    # The HTTP schema lists the valid codes; a caller of the use case meets this instead.
    with pytest.raises(InvalidInputError, match="XX"):
        countries.create_country(connection, CountryCreate.model_construct(code="XX"))


def test_pages_follow_the_cursor_to_the_end(connection: Connection) -> None:
    for code in ("DE", "AT", "CH"):
        countries.create_country(connection, CountryCreate(code=code))
    first = countries.list_countries(connection, limit=2)
    assert [row["code"] for row in first["items"]] == ["AT", "CH"]
    assert first["next_after"] == "CH"
    last = countries.list_countries(connection, limit=2, after="ch")
    assert [row["code"] for row in last["items"]] == ["DE"]
    assert last["next_after"] is None


def test_missing_countries_are_not_found(connection: Connection) -> None:
    with pytest.raises(NotFoundError):
        countries.update_country(connection, "ZZ", CountryUpdate(common_name="Nowhere"))
    with pytest.raises(NotFoundError):
        countries.delete_country(connection, "ZZ")


def test_a_conflict_on_any_unique_column_is_a_conflict_error(connection: Connection) -> None:
    # GB's alpha-3 code taken by another row: what a second request re-creating a deleted
    # country at the same moment as the first meets, without the timing.
    connection.execute(
        text(
            "INSERT INTO country (code, alpha_3, numeric_code, common_name)"
            " VALUES ('XG', 'GBR', '999', 'Other')"
        )
    )
    with pytest.raises(ConflictError):
        countries.create_country(connection, CountryCreate(code="GB"))
    assert connection.scalar(text("SELECT count(*) FROM country")) == 1


def test_the_use_cases_return_every_mapped_column_under_the_names_the_api_publishes() -> None:
    # A model attribute renamed alone (the README's `common_name` -> `display_name`) fails
    # mypy where the use cases name it, and this test: the response model still promises the
    # old name, which the rows would no longer carry.
    mapped = [column.key for column in inspect(Country).column_attrs]
    assert [column.key for column in countries.COLUMNS] == mapped
    assert list(CountryRead.model_fields) == mapped
