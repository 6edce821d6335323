"""Fixtures of the toolkit's own tests: a real PostgreSQL, a scratch database per test.

These tests import nothing from the repository around the toolkit: they run as well in a
virtual environment holding only the toolkit's wheel and its `test` extra
(`pip install "alembic-toolkit[lint,test]"`) as in the repository's development one.

The server is the one TEST_DATABASE_URL names (its maintenance database will do). Without it,
a test suite running these alongside its own may offer its server through the
`pytest_toolkit_database_server` hook (this repository's tests/conftest.py offers its
throwaway embedded one); with neither, the tests that need a database skip, saying so, except
in CI (`CI=true`), where they fail instead of hiding.
"""

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import URL, Engine, create_engine, make_url
from toolkit_support import scratch_database


class ServerHooks:
    """The hook through which a surrounding test suite offers its server."""

    @pytest.hookspec(firstresult=True)
    def pytest_toolkit_database_server(self) -> AbstractContextManager[URL] | None:
        """A context manager yielding an admin URL of a server to create databases on."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(ServerHooks)


NO_SERVER = (
    "no PostgreSQL for the toolkit's tests: set TEST_DATABASE_URL to an admin URL of a server "
    "they may create databases on (e.g. postgresql://postgres@127.0.0.1:5432/postgres)"
)


@pytest.fixture(scope="session")
def server_url(pytestconfig: pytest.Config) -> Iterator[URL]:
    """An admin URL of the server under test, without a driver (psycopg's libpq form)."""
    named = os.environ.get("TEST_DATABASE_URL")
    if named:
        yield make_url(named).set(drivername="postgresql")
        return
    offered = pytestconfig.hook.pytest_toolkit_database_server()
    if offered is None:
        if os.environ.get("CI") == "true":
            pytest.fail(NO_SERVER)
        pytest.skip(NO_SERVER)
    with offered as url:
        yield url.set(drivername="postgresql")


@pytest.fixture
def database(server_url: URL) -> Iterator[URL]:
    """An empty scratch database of the test's own, dropped afterwards."""
    with scratch_database(server_url) as url:
        yield url


@pytest.fixture
def engine(database: URL) -> Iterator[Engine]:
    """A synchronous engine (psycopg 3, as Alembic's generic template uses) on that database."""
    engine = create_engine(database.set(drivername="postgresql+psycopg"))
    try:
        yield engine
    finally:
        engine.dispose()
