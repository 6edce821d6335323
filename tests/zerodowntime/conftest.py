"""Fixtures for the zero-downtime helpers: an empty database of each test's own."""

from collections.abc import Iterator

import pytest
from sqlalchemy import URL, Engine

from tests.databases import scratch_database, sync_engine


@pytest.fixture
def database(server_url: URL) -> Iterator[URL]:
    """An empty scratch database of the test's own."""
    with scratch_database(server_url) as url:
        yield url


@pytest.fixture
def engine(database: URL) -> Iterator[Engine]:
    """A synchronous engine (psycopg) on that database."""
    with sync_engine(database) as engine:
        yield engine
