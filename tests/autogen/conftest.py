"""Fixtures for autogenerate: a scratch copy of the migration environment to write revisions in."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL

from alembic_stuff.db.migrations import upgrade_to_head
from tests.databases import ROOT, scratch_database, settings_for


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the migration environment, where new revisions may be written."""
    for name in ("alembic.ini", "pyproject.toml"):  # pyproject: ruff formats new revisions
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(
        ROOT / "alembic", tmp_path / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


@pytest.fixture
def head_database(server_url: URL) -> Iterator[URL]:
    """A database of the test's own at the project's head, with no rows."""
    with scratch_database(server_url) as url:
        upgrade_to_head(settings_for(url), configure_logging=False)
        yield url
