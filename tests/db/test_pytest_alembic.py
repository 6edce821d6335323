"""pytest-alembic's built-in tests: a second, independent opinion on the migration history.

Its single-head test is left out: the history has two heads by design, the expand and
contract branches (alembic_toolkit.checks.check_one_head_per_branch checks that instead).
"""

from collections.abc import Callable

import pytest
from alembic.config import Config
from pytest_alembic import runner
from pytest_alembic.config import Config as PytestAlembicConfig
from pytest_alembic.plugin.error import AlembicTestFailure
from pytest_alembic.plugin.fixtures import alembic_runner
from pytest_alembic.runner import MigrationContext
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import URL, Engine

from alembic_stuff.db.migrations import alembic_config as project_alembic_config
from tests.databases import broken_history, settings_for

__all__ = [
    "alembic_runner",
    "test_model_definitions_match_ddl",
    "test_up_down_consistency",
    "test_upgrade",
]


@pytest.fixture
def alembic_config(database: URL) -> Config:
    return project_alembic_config(settings_for(database), configure_logging=False)


@pytest.fixture
def alembic_engine(engine: Engine) -> Engine:
    return engine


@pytest.mark.parametrize(
    ("check", "history", "message"),
    [
        (test_up_down_consistency, "no_downgrade", 'relation "thing" already exists'),
        (test_model_definitions_match_ddl, "drift", "out of sync"),
    ],
    ids=["up_down-no_downgrade", "model_match-drift"],
)
def test_its_tests_fail_on_histories_broken_for_them(
    check: Callable[[MigrationContext], None],
    history: str,
    message: str,
    alembic_config: Config,
    alembic_engine: Engine,
) -> None:
    config = PytestAlembicConfig.from_raw_config(broken_history(alembic_config, history))
    with (
        runner(config=config, engine=alembic_engine) as context,
        pytest.raises(AlembicTestFailure, match=message),
    ):
        check(context)
