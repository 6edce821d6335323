"""Fixtures for autogenerate: a scratch copy of the migration environment to write revisions in."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine

from tests.databases import Scratch, copy_migration_environment, sync_engine


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the migration environment, where new revisions may be written."""
    return copy_migration_environment(tmp_path)


@pytest.fixture
def scratch(project: Path, head_database: URL) -> Scratch:
    """The scratch migration environment, generating against a database at the heads."""
    return Scratch(project, head_database)


@pytest.fixture
def engine(scratch: Scratch) -> Iterator[Engine]:
    """The test's engine: on the database the scratch migration environment generates against."""
    with sync_engine(scratch.database) as engine:
        yield engine
