"""Fixtures for the migration tests: an empty database of each test's own."""

from collections.abc import Iterator

import pytest
from sqlalchemy import URL, Engine, create_engine

from tests.databases import scratch_database, settings_for


@pytest.fixture
def database(server_url: URL) -> Iterator[URL]:
    """An empty scratch database of the test's own."""
    with scratch_database(server_url) as url:
        yield url


@pytest.fixture
def engine(database: URL) -> Iterator[Engine]:
    """A synchronous engine (psycopg) on that database."""
    engine = create_engine(settings_for(database).migration_url)
    yield engine
    engine.dispose()
