"""The proof, CI-sized: a rename under load, with release N and release N+1 serving at once.

The harness (bench/zero_downtime/harness.py, also `pipenv run bench --zero-downtime`) serves
both releases with uvicorn against the scratch database, drives mixed traffic at them, and
runs the change while they serve. The expand/contract rename must fail no request (no 5xx, no
connection lost, no read that the writes in flight cannot explain); the one-step rename, under
the same load, must break release N (which shows the harness sees failures). The timing
targets (lock waits under 100 ms, p99 during the change within 3 times p99 before) are printed
here and judged by `bench --zero-downtime`: on a machine running the rest of the suite beside
this test they measure the machine, and a timed assertion would fail at random.
"""

import sqlalchemy as sa
from sqlalchemy import URL, Engine, text

from bench.zero_downtime.consistency import NO_ANSWER
from bench.zero_downtime.harness import Outcome, Plan, prove
from bench.zero_downtime.revisions import script_directory

ROWS = 50_000
PLAN = Plan(rows=ROWS, rate=200.0)
# The one-step rename breaks release N at once: a smaller table and a shorter run show it.
NAIVE_PLAN = Plan(rows=5_000, rate=200.0, before=1.0)


def figures(outcome: Outcome) -> str:
    """The summary line, failures by kind, and the longest lock waits, for the test's output."""
    longest = outcome.locks.get("longest", [])
    return f"{outcome.line()}\nfailures: {outcome.failures_by_kind()}\nlongest waits: {longest}"


def test_expand_backfill_switch_contract_under_load_fails_no_request(
    database: URL, engine: Engine
) -> None:
    outcome = prove(database, PLAN, "expand-contract")
    print(figures(outcome))
    print(f"single UPDATE: {outcome.single_update_rows_per_second:,.0f} rows/s")

    assert outcome.failed == 0, figures(outcome)
    assert {request.release for request in outcome.requests} == {"N", "N+1"}
    assert {request.operation for request in outcome.requests} == {
        "read",
        "create",
        "update",
        "delete",
    }
    assert outcome.backfill_rows_per_second, outcome.migration_output
    assert "backfill item.name: done, " in outcome.migration_output

    # Contracted: `label`, its trigger and the CHECK are gone. The database is at the
    # contract head, which depends on the expand head (so Alembic records only the former).
    script = script_directory()
    with engine.connect() as connection:
        columns = {column["name"] for column in sa.inspect(connection).get_columns("item")}
        triggers = connection.execute(
            text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")
        ).scalar()
        heads = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
        unnamed = connection.execute(text("SELECT count(*) FROM item WHERE name IS NULL")).scalar()
    assert (columns, triggers, unnamed) == ({"id", "name"}, 0, 0)
    contract, expand = script.get_revision("contract@head"), script.get_revision("expand@head")
    assert contract is not None
    assert expand is not None
    assert heads == {contract.revision}
    assert contract.dependencies == expand.revision


def test_the_one_step_rename_under_the_same_load_breaks_release_n(database: URL) -> None:
    outcome = prove(database, NAIVE_PLAN, "naive")
    print(figures(outcome))

    assert outcome.failed > 0
    assert {request.release for request in outcome.failures} == {"N"}
    # 500s (no such column), and connections the server closed after one.
    statuses = {request.status for request in outcome.failures}
    assert statuses <= {NO_ANSWER, 500}, figures(outcome)
    assert 500 in statuses
