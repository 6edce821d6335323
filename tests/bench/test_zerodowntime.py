"""The proof, CI-sized: the generator's expand/contract pair deployed under load, as people deploy.

The harness (bench/zerodowntime/harness.py, also `pipenv run bench --zero-downtime`) writes
the rename item.label -> item.name with the toolkit's generator, serves two replicas of
release N through PgBouncer in transaction mode (the migrations connect directly), and is
the load balancer: it probes every replica's /ready every 50 ms and routes
only to the ready ones. Then the expand, two replicas of N+1 join, N drains (out of the
rotation, then SIGTERM), and the contract. No request may fail (no 5xx, no connection lost,
no read the writes in flight cannot explain, no request the balancer had no ready replica
for); at every probe some replica is ready; and each replica answers ready for as long as it
is in the rotation. The one-step rename, under the same load and routing, must break release
N (which shows the harness sees failures). Timing targets are printed, not asserted.
"""

import pytest
import sqlalchemy as sa
from alembic_toolkit import ledger
from sqlalchemy import URL, Engine, text

from bench.zerodowntime.consistency import NO_ANSWER
from bench.zerodowntime.harness import Outcome, Plan, prove
from support.programs import required

ROWS = 20_000
PLAN = Plan(rows=ROWS, rate=150.0, workers=12, before=1.0)
# The one-step rename breaks release N at once: a smaller table, one replica of each release
# and a shorter run show it.
NAIVE_PLAN = Plan(rows=2_000, rate=150.0, workers=12, replicas=1, before=0.5, together=0.5)


@pytest.fixture(autouse=True)
def _pgbouncer() -> None:
    """The replicas reach the database through Debian's pgbouncer (CI installs it)."""
    required("pgbouncer", "/usr/sbin/pgbouncer", package="pgbouncer")


def figures(outcome: Outcome) -> str:
    """The summary line, failures by kind, gaps, and the longest lock waits, for the output."""
    longest = outcome.locks.get("longest", [])
    phases = ", ".join(f"{p.name} {p.end - p.start:.2f} s" for p in outcome.phases)
    return (
        f"{outcome.line()}\nphases: {phases}\nfailures: {outcome.failures_by_kind()}\n"
        f"ready gaps: {[round(gap.milliseconds) for gap in outcome.gaps]} ms\n"
        f"longest waits: {longest}"
    )


def test_the_generated_pair_rolls_out_with_every_request_served_by_a_ready_replica(
    database: URL, engine: Engine
) -> None:
    outcome = prove(database, PLAN, "generated")
    print(figures(outcome))

    assert outcome.failed == 0, figures(outcome)
    assert outcome.unready == [], figures(outcome)
    assert outcome.gaps == [], figures(outcome)
    # Every replica answered probes, and each release served requests of every kind.
    assert {probe.replica for probe in outcome.probes} == {"N#1", "N#2", "N+1#1", "N+1#2"}
    assert {request.release for request in outcome.requests} == {"N", "N+1"}
    assert {request.operation for request in outcome.requests} == {
        "read",
        "create",
        "update",
        "delete",
    }
    assert outcome.backfill_rows_per_second, outcome.migration_output
    assert "backfill item.name: done, " in outcome.migration_output

    # Contracted: `label`, its trigger and the CHECK are gone; the database is at the
    # generated contract revision, which release N+1 was built with.
    with engine.connect() as connection:
        columns = {column["name"] for column in sa.inspect(connection).get_columns("item")}
        triggers = connection.execute(
            text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")
        ).scalar()
        heads = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
        unnamed = connection.execute(text("SELECT count(*) FROM item WHERE name IS NULL")).scalar()
        applied = ledger.read(connection)
    assert (columns, triggers, unnamed) == ({"id", "name"}, 0, 0)
    release_n, release_n1 = outcome.builds["N"].schema, outcome.builds["N+1"].schema
    assert heads == {release_n1.contract_head}
    # N+1 serves the contracted schema; N, drained before the contract, could not.
    assert release_n1.judge(applied) is None
    assert release_n.judge(applied) is not None


def test_the_one_step_rename_under_the_same_routing_breaks_release_n(database: URL) -> None:
    outcome = prove(database, NAIVE_PLAN, "naive")
    print(figures(outcome))

    assert outcome.failed > 0
    assert {request.release for request in outcome.failures} == {"N"}
    # 500s (no such column), and connections the server closed after one: release N stays
    # ready (its revisions did not change), which is why readiness alone cannot catch it.
    statuses = {request.status for request in outcome.failures}
    assert statuses <= {NO_ANSWER, 500}, figures(outcome)
    assert 500 in statuses
