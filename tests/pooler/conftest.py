"""The pooler tests' fixture: PgBouncer in transaction mode in front of the test server."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL

from support.pgbouncer import Pooler, pgbouncer


@pytest.fixture
def pooler(server_url: URL, tmp_path: Path) -> Iterator[Pooler]:
    """Debian's pgbouncer with the project's configuration, on a free port, stopped after."""
    with pgbouncer(server_url, tmp_path) as running:
        yield running
