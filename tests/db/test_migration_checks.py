"""The migration checks pass on the project's history and fail on histories broken to match."""

from collections.abc import Callable

import pytest
from alembic.config import Config
from alembic_toolkit import checks
from sqlalchemy import URL, Engine
from sqlalchemy.exc import DBAPIError

from alembic_stuff.db.base import Base
from alembic_stuff.db.migrations import alembic_config
from tests.databases import broken_history, revision_id, settings_for

PROJECT_SEEDS: checks.Seeds = {
    revision_id("create_country_table"): [("country", {"code": "GB", "name": "Blighty"})],
    revision_id("add_iso_3166_columns"): [
        (
            "country",
            {
                "code": "FR",
                "name": "France",
                "alpha_3": "FRA",
                "numeric_code": "250",
                "official_name": "French Republic",
            },
        )
    ],
    revision_id("rename_country_name_to_common_name"): [
        (
            "country",
            {
                "code": "DE",
                "common_name": "Germany",
                "alpha_3": "DEU",
                "numeric_code": "276",
                "official_name": "Federal Republic of Germany",
            },
        )
    ],
}
BROKEN_SEEDS: checks.Seeds = {"c1": [("country", {"code": "GB", "name": "United Kingdom"})]}

Check = Callable[[Config, Engine], None]
CHECKS: dict[str, Check] = {
    "one_head_per_branch": lambda config, engine: checks.check_one_head_per_branch(config),
    "stairway": checks.check_stairway,
    "downgrade_leaves_no_trace": checks.check_downgrade_leaves_no_trace,
    "names_match_models": lambda config, engine: checks.check_names_match_models(
        config, engine, Base.metadata
    ),
    "data_survives": lambda config, engine: checks.check_data_survives(
        config, engine, PROJECT_SEEDS if _is_project(config) else BROKEN_SEEDS
    ),
}


def _is_project(config: Config) -> bool:
    return config.get_main_option("version_locations") is None


def config_for(database: URL, history: str | None = None) -> Config:
    config = alembic_config(settings_for(database), configure_logging=False)
    return config if history is None else broken_history(config, history)


@pytest.mark.parametrize("name", CHECKS)
def test_the_project_history_passes(name: str, database: URL, engine: Engine) -> None:
    CHECKS[name](config_for(database), engine)


@pytest.mark.parametrize(
    ("name", "history", "failure", "message"),
    [
        ("one_head_per_branch", "two_heads", AssertionError, "expected one head per branch"),
        ("stairway", "no_downgrade", DBAPIError, 'relation "thing" already exists'),
        ("downgrade_leaves_no_trace", "no_downgrade", AssertionError, "downgrading n1 did not"),
        ("names_match_models", "misnamed", AssertionError, "country_alpha_3_key"),
        ("data_survives", "loses_data", AssertionError, "after upgrading to l2: the row"),
    ],
)
def test_each_check_fails_on_a_history_broken_for_it(
    name: str,
    history: str,
    failure: type[Exception],
    message: str,
    database: URL,
    engine: Engine,
) -> None:
    with pytest.raises(failure, match=message):
        CHECKS[name](config_for(database, history), engine)
