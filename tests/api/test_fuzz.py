"""The API fuzzed from its own OpenAPI schema by schemathesis, against a real server process."""

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import CHECKS as CHECK_REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.core.result import Err
from sqlalchemy import URL

from alembic_stuff.api.app import create_app
from tests.databases import scratch_database, served_api, settings_for

# The schema comes from the app itself; no database is touched to produce it.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(settings_for(URL.create("postgresql", database="unused"))).openapi()
)


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for result in SCHEMA.get_all_operations():
        if isinstance(result, Err):  # an operation schemathesis cannot read is a failure too
            raise result.err()
        operations[result.ok().label] = result.ok()
    return operations


OPERATIONS = _operations()
load_all_checks()


@pytest.fixture(scope="module")
def head_database(server_url: URL, head_template: str) -> Iterator[URL]:
    """A database at the project's heads, shared by the module's tests and its served app."""
    with scratch_database(server_url, head_template) as database:
        yield database


@pytest.fixture(scope="module")
def base_url(head_database: URL) -> Iterator[str]:
    """The app served as `alembic-stuff serve` serves it, on the migrated scratch database."""
    with served_api(head_database) as base:
        yield base


# Examples per operation, and stateful scenarios: few in the default run, to keep it fast;
# `pipenv run test-fuzz` (and CI) runs 300 of each.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
SCENARIOS = int(os.environ.get("FUZZ_SCENARIOS", "10"))
# Every check schemathesis has (all are on by default; named here so that stays true).
CHECKS = CHECK_REGISTRY.get_all()
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # The same examples on every run, so CI is repeatable; change the code, and they change.
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# schemathesis's own pytest integration fails on pytest 9, so each operation's strategy is
# driven by Hypothesis directly.
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_5xx_and_every_response_matches_the_schema(label: str, base_url: str) -> None:
    operation = OPERATIONS[label]

    @given(case=operation.as_strategy())
    @FUZZ_SETTINGS
    def call(case: Any) -> None:
        case.call_and_validate(base_url=base_url, checks=CHECKS)

    call()


def test_stateful_sequences_never_fail_a_check(base_url: str, head_database: URL) -> None:
    # Sequences schemathesis chains through the API's links (create, then read, change and
    # delete what was created), each from an empty table: Hypothesis replays a sequence and
    # needs the same answers to the same requests.
    class Sequences(SCHEMA.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            with psycopg.connect(head_database.render_as_string(hide_password=False)) as connection:
                connection.execute("DELETE FROM country")

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base_url}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    run_state_machine_as_test(Sequences, settings=settings(FUZZ_SETTINGS, max_examples=SCENARIOS))
