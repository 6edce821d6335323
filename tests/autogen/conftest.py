"""Fixtures for autogenerate: a scratch copy of the migration environment to write revisions in."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL

from alembic_stuff.db.migrations import upgrade_to_head
from tests.databases import copy_migration_environment, scratch_database, settings_for


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the migration environment, where new revisions may be written."""
    return copy_migration_environment(tmp_path)


@pytest.fixture
def head_database(server_url: URL) -> Iterator[URL]:
    """A database of the test's own at the project's head, with no rows."""
    with scratch_database(server_url) as url:
        upgrade_to_head(settings_for(url), configure_logging=False)
        yield url
