"""Fixtures: a real PostgreSQL, migrated once per session; a rolled-back transaction per test.

One name, one meaning, in every test module: `server_url` is the server's admin URL; `database`
the URL of an empty scratch database (`head_database` one at the project's heads, a copy of the
session's `head_template`, `seeded_database` one holding rows too, `database_with_app_role` one
set up as the compose file sets one up); `engine` a synchronous (psycopg) engine on the test's
database (in tests/autogen, the one the scratch migration environment generates against),
`async_engine` the session's asyncpg one; `app_database` and `bound_database` the app's
`Database`, on its own pools or on the test's transaction."""

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from alembic_stuff.api.app import create_app
from alembic_stuff.api.dependencies import get_database
from alembic_stuff.db.database import Database
from alembic_stuff.settings import Settings, get_settings
from tests.databases import (
    heads_template,
    scratch_database,
    server_for_tests,
    settings_for,
    sync_engine,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--examples",
        type=int,
        default=40,
        help="generated schema evolutions to try (tests/autogen/test_evolutions.py)",
    )


@pytest.fixture(scope="session")
def evolution_examples(request: pytest.FixtureRequest) -> int:
    """How many generated evolutions the proof tries (--examples)."""
    examples: int = request.config.getoption("--examples")
    return examples


# Anything that reads the process's own settings by mistake fails loudly instead of touching
# the developer's database.
GUARD_URL = "postgresql://tests-must-not-use-this@127.0.0.1:1/not-a-database"


@pytest.fixture(scope="session", autouse=True)
def _guard_developer_database() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", GUARD_URL)
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def server_url() -> Iterator[URL]:
    """An admin URL of the server under test (TEST_DATABASE_URL, or a throwaway embedded one)."""
    with server_for_tests() as url:
        yield url


@pytest.hookimpl(optionalhook=True)
def pytest_toolkit_database_server() -> AbstractContextManager[URL]:
    """The server of the toolkit's own tests (toolkit/tests) in a run with these: the same kind."""
    return server_for_tests()


@pytest.fixture(scope="session")
def head_template(server_url: URL) -> Iterator[str]:
    """The name of a database at the heads, closed to connections, that the ones below copy."""
    with heads_template(server_url) as name:
        yield name


@pytest.fixture(scope="session")
def settings(server_url: URL, head_template: str) -> Iterator[Settings]:
    """Settings for a scratch database at the heads, once per test session."""
    with scratch_database(server_url, template=head_template) as database:
        yield settings_for(database)


@pytest.fixture(scope="session")
async def async_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The async (asyncpg) engine on the migrated scratch database."""
    engine = create_async_engine(settings.app_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def bound_database(async_engine: AsyncEngine) -> AsyncIterator[Database]:
    """The app's unit-of-work runner on one connection, in a transaction rolled back after the test.

    Commits made by the code under test only release savepoints, so every test starts
    from the migrated, empty schema.
    """
    async with async_engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield Database.bound_to(connection)
        finally:
            await transaction.rollback()


@pytest.fixture
async def app(settings: Settings, bound_database: Database) -> AsyncIterator[FastAPI]:
    """The real app, started through its lifespan, its units of work on the test's transaction."""
    app = create_app(settings)

    async def test_database() -> Database:
        return bound_database

    app.dependency_overrides[get_database] = test_database
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def database(server_url: URL) -> Iterator[URL]:
    """An empty scratch database of the test's own."""
    with scratch_database(server_url) as url:
        yield url


@pytest.fixture
def head_database(server_url: URL, head_template: str) -> Iterator[URL]:
    """A database of the test's own at the project's heads, with no rows."""
    with scratch_database(server_url, template=head_template) as url:
        yield url


@pytest.fixture
def engine(database: URL) -> Iterator[Engine]:
    """A synchronous engine (psycopg) on that database."""
    with sync_engine(database) as engine:
        yield engine
