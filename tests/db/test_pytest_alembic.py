"""pytest-alembic's built-in tests: a second, independent opinion on the migration history."""

from collections.abc import Iterator

import pytest
from alembic.config import Config
from pytest_alembic.plugin.fixtures import alembic_runner
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import URL, Engine, create_engine

from alembic_stuff.db.migrations import alembic_config as project_alembic_config
from tests.databases import scratch_database, settings_for

__all__ = [
    "alembic_runner",
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


@pytest.fixture
def database(server_url: URL) -> Iterator[URL]:
    with scratch_database(server_url) as url:
        yield url


@pytest.fixture
def alembic_config(database: URL) -> Config:
    return project_alembic_config(settings_for(database), configure_logging=False)


@pytest.fixture
def alembic_engine(database: URL) -> Iterator[Engine]:
    engine = create_engine(settings_for(database).migration_url)
    yield engine
    engine.dispose()
