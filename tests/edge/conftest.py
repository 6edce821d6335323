"""Fixtures: the API on a database at the heads, behind nginx with the shipped configuration.

`front` is one edge per test module, holding the country GB for its reads; `own_front` one
for a single test, which may stop or freeze the API behind it.
"""

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import URL

from support.nginx import NGINX, Edge, edge
from support.programs import required
from tests.databases import scratch_database


@pytest.fixture(scope="session", autouse=True)
def _nginx_installed() -> None:
    required(str(NGINX), package="nginx")


@pytest.fixture(scope="module")
def front(server_url: URL, head_template: str) -> Iterator[Edge]:
    """nginx in front of the API, for the module's tests."""
    with scratch_database(server_url, template=head_template) as database, edge(database) as e:
        assert httpx.post(f"{e.url}/country", timeout=10).status_code == 201
        yield e


@pytest.fixture
def own_front(server_url: URL, head_template: str) -> Iterator[Edge]:
    """nginx in front of an API of the test's own."""
    with scratch_database(server_url, template=head_template) as database, edge(database) as e:
        yield e
