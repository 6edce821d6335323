"""The proof: a rolling deploy of release N+1 over release N, under load, as people deploy.

`prove()` fills the proof's `item` table and deploys as an orchestrator does, with this
harness as the load balancer (bench/zerodowntime/balancer.py): it probes every replica's
`/ready` and routes requests only to the replicas whose last answer was 200. Two replicas of
each release (bench/zerodowntime/replicas.py), mixed traffic throughout
(bench/zerodowntime/load.py), and the phases:

    N alone -> expand (alembic upgrade expand@head) -> N+1 joins -> N drains (out of the
    rotation, then SIGTERM) -> contract (alembic upgrade contract@head) -> N+1 alone

In mode `generated` the expand and contract revisions are the toolkit's own, written at run
time from release N's model to release N+1's (bench/zerodowntime/generated.py); in mode
`naive`, for contrast, `ALTER TABLE item RENAME COLUMN label TO name` replaces the expand and
there is no contract. A sampler process watches lock waits throughout. The replicas reach
the database through PgBouncer in transaction mode (`pooler`, the one switch; off: directly);
the migrations always connect directly. The outcome holds every
request, probe and phase; `Outcome.line()` is the summary line. Used by
tests/bench/test_zerodowntime.py (CI-sized) and `pipenv run bench --zero-downtime`.
"""

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import psycopg
from sqlalchemy import URL

from alembic_stuff.settings import Settings
from bench.zerodowntime.balancer import Balancer, Gap, Membership, Probe, gaps
from bench.zerodowntime.balancer import unready_while_serving as unready
from bench.zerodowntime.consistency import Mismatch, Request, mismatches
from bench.zerodowntime.generated import scratch_history, write_pair
from bench.zerodowntime.load import Load
from bench.zerodowntime.migrator import migrator
from bench.zerodowntime.releases import NEW_COLUMN, OLD_COLUMN
from bench.zerodowntime.replicas import START_SECONDS, Build, Fleet, Replica
from bench.zerodowntime.revisions import upgrade
from bench.zerodowntime.sampler import sampling
from support.pgbouncer import pgbouncer

Mode = Literal["generated", "naive"]
NAIVE_RENAME = "ALTER TABLE item RENAME COLUMN label TO name"
# Load on release N before the measured phases: its connections opened, its statements
# prepared.
WARM_UP_SECONDS = 0.5
# The phases with no schema change under way; the requests of every phase are checked.
UNCHANGING = {"warm-up", "before", "after"}


@dataclass(frozen=True)
class Plan:
    """How big the table is, how much load, and how long each phase without a change lasts."""

    rows: int
    rate: float  # requests per second, in all
    workers: int = 16
    replicas: int = 2  # of each release
    before: float = 2.0  # release N alone, before the change
    together: float = 1.0  # both releases serving, after N+1 joined
    drain: float = 0.5  # release N out of the rotation, before it is stopped
    after: float = 0.5  # release N+1 alone, after the contract
    pool_size: int = 2  # each replica's connections, for reads and again for writes
    probe_interval: float = 0.05  # seconds between two probes of one replica's /ready
    sample_interval_ms: float = 5.0
    seed: int = 20261126


@dataclass(frozen=True)
class Phase:
    """A named stretch of the run (time.monotonic() seconds)."""

    name: str
    start: float
    end: float


@dataclass
class Outcome:
    """What one run saw."""

    mode: Mode
    plan: Plan
    requests: list[Request]
    phases: list[Phase]
    probes: list[Probe]
    changes: list[Membership]
    locks: dict[str, object] = field(default_factory=dict)
    stale: list[Mismatch] = field(default_factory=list)
    backfill_rows_per_second: float | None = None
    single_update_rows_per_second: float | None = None
    migration_output: str = ""
    generator_output: str = ""
    builds: dict[str, Build] = field(default_factory=dict)
    pooler: bool = False

    @property
    def failures(self) -> list[Request]:
        """Requests with no answer, or an answer their operation never gives when it works."""
        return [request for request in self.requests if request.failed]

    @property
    def failed(self) -> int:
        """Failed requests and stale answers."""
        return len(self.failures) + len(self.stale)

    @property
    def gaps(self) -> list[Gap]:
        """The stretches with no ready replica in the rotation."""
        return gaps(self.probes, self.changes, until=self.phases[-1].end)

    @property
    def ready_gap_ms(self) -> float:
        """The longest time with no ready replica in the rotation, in milliseconds."""
        return max((gap.milliseconds for gap in self.gaps), default=0.0)

    @property
    def unready(self) -> list[Probe]:
        """Probes that found a replica unready while it was in the rotation."""
        return unready(self.probes, self.changes)

    def span(self, during: bool) -> tuple[float, float]:
        """When the schema change started and ended, or the stretch of load before it."""
        if not during:
            [before] = [phase for phase in self.phases if phase.name == "before"]
            return before.start, before.end
        changing = [phase for phase in self.phases if phase.name not in UNCHANGING]
        return changing[0].start, changing[-1].end

    def p99_ms(self, during: bool) -> float:
        """p99 latency of requests sent before the change, or during it."""
        start, end = self.span(during)
        latencies = [request.latency_ms for request in self.requests if start <= request.sent < end]
        if len(latencies) < 2:
            return float("nan")
        return statistics.quantiles(latencies, n=100, method="inclusive")[98]

    @property
    def max_lock_wait_ms(self) -> float:
        """The longest lock wait the sampler saw, in milliseconds."""
        longest = self.locks.get("longest")
        if not isinstance(longest, list) or not longest:
            return 0.0
        return float(longest[0]["milliseconds"])

    def line(self) -> str:
        """The summary line of `pipenv run bench --zero-downtime`."""
        rate = self.backfill_rows_per_second or 0.0
        return (
            f"zero-downtime: failed {self.failed} of {len(self.requests)} requests, "
            f"max lock wait {self.max_lock_wait_ms:.1f} ms, "
            f"p99 before {self.p99_ms(during=False):.1f} ms "
            f"during {self.p99_ms(during=True):.1f} ms, "
            f"backfill {rate:.0f} rows/s, ready gaps {self.ready_gap_ms:.0f} ms"
        )

    def failures_by_kind(self) -> dict[str, int]:
        """Failed requests by release and answer (0: none), stale answers, unready probes."""
        kinds: dict[str, int] = {}
        for request in self.failures:
            kind = f"release {request.release}, {request.operation}, status {request.status}"
            kinds[kind] = kinds.get(kind, 0) + 1
        for mismatch in self.stale:
            kind = f"release {mismatch.request.release}, stale {mismatch.request.operation}"
            kinds[kind] = kinds.get(kind, 0) + 1
        for probe in self.unready:
            kind = f"release {probe.release} unready in rotation: {probe.detail or probe.status}"
            kinds[kind] = kinds.get(kind, 0) + 1
        return kinds


def initial_name(key: int) -> str:
    """The name item `key` is created with."""
    return f"item {key}"


def prove(
    database: URL, plan: Plan, mode: Mode, *, pooler: bool = True, log: bool = False
) -> Outcome:
    """Run the proof on an empty `database` (a driver-less URL); the table is left there.

    With `pooler`, the replicas reach the database through PgBouncer in transaction mode, as
    production's usual set-up; without, directly. The migrations always connect directly.
    """
    dsn = database.render_as_string(hide_password=False)
    settings = Settings(_env_file=None, database_url=dsn)
    migration_url = settings.migration_url.render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory(prefix="zero-downtime-") as folder:
        history = scratch_history(Path(folder, "history"))
        upgrade(migration_url, history.ini, "heads")
        builds = {"N": Build("N", OLD_COLUMN, history.release())}
        generated = write_pair(history, migration_url) if mode == "generated" else ""
        builds["N+1"] = Build("N+1", NEW_COLUMN, history.release())
        fill(dsn, plan.rows)
        with (
            app_database(database, pooler, Path(folder)) as reached,
            Fleet(reached, plan.pool_size) as fleet,
            sampling(dsn, plan.sample_interval_ms) as sampler,
        ):
            run = Run(fleet, builds, plan, mode, log, direct=dsn)
            outcome = asyncio.run(run.deploy(migration_url, history.ini))
            outcome.locks = sampler.result()
    outcome.generator_output, outcome.pooler = generated, pooler
    outcome.stale = mismatches(
        outcome.requests, lambda key: initial_name(key) if key <= plan.rows else None
    )
    if mode == "generated":
        outcome.backfill_rows_per_second = backfill_rate(dsn)
        outcome.single_update_rows_per_second = single_update_rate(dsn, plan.rows)
    return outcome


@contextmanager
def app_database(database: URL, pooler: bool, folder: Path) -> Iterator[dict[str, str]]:
    """The app's database settings: `database` itself, or PgBouncer in transaction mode."""
    if not pooler:
        yield {"DATABASE_URL": database.render_as_string(hide_password=False)}
        return
    with pgbouncer(database, folder) as running:
        yield {
            "DATABASE_URL": running.url(database).render_as_string(hide_password=False),
            "DATABASE_POOLER": "transaction",
        }


# Preparing the table -------------------------------------------------------------------------


def fill(dsn: str, rows: int) -> None:
    """Insert `rows` items, ids 1 to `rows`, named by `initial_name`."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO item (id, label) SELECT n, 'item ' || n FROM generate_series(1, %s) n",
            (rows,),
        )
        connection.execute("SELECT setval(pg_get_serial_sequence('item', 'id'), %s)", (rows,))
        connection.execute("VACUUM ANALYZE item")


def backfill_rate(dsn: str) -> float | None:
    """Rows per second of the expand's backfill, from its progress row."""
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "SELECT rows_done, extract(epoch FROM finished_at - started_at)"
            " FROM zerodowntime.backfill WHERE name = 'item.name'"
        ).fetchone()
    if row is None or not row[1]:
        return None
    return float(row[0]) / float(row[1])


def single_update_rate(dsn: str, rows: int) -> float:
    """Rows per second of one UPDATE filling a column of a table as big, with no load."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE item_single_update AS"
            " SELECT n AS id, 'item ' || n AS label, NULL::text AS name"
            " FROM generate_series(1, %s) n",
            (rows,),
        )
        connection.execute("ALTER TABLE item_single_update ADD PRIMARY KEY (id)")
        connection.execute("VACUUM ANALYZE item_single_update")
        started = time.perf_counter()
        connection.execute("UPDATE item_single_update SET name = label")
        seconds = time.perf_counter() - started
        connection.execute("DROP TABLE item_single_update")
    return rows / seconds


# The deploy ----------------------------------------------------------------------------------


class Run:
    """One deploy of N+1 over N under load: the phases, each timed and recorded."""

    def __init__(
        self, fleet: Fleet, builds: dict[str, Build], plan: Plan, mode: Mode, log: bool, direct: str
    ) -> None:
        self.fleet, self.builds, self.plan, self.mode, self.log = fleet, builds, plan, mode, log
        self.direct = direct  # the database's own URL, for the one-step rename
        self.phases: list[Phase] = []
        self.balancer = Balancer(plan.probe_interval)

    async def phase(self, name: str, step: float | Callable[[], Awaitable[None]]) -> None:
        """Run `step` (a pause, or a change) as the phase `name`."""
        started = time.monotonic()
        if self.log:
            print(f"zero-downtime ({self.mode}): {name}", file=sys.stderr, flush=True)
        if isinstance(step, float):
            await asyncio.sleep(step)
        else:
            await step()
        self.phases.append(Phase(name, started, time.monotonic()))

    async def deploy(self, migration_url: str, ini: Path) -> Outcome:
        """Serve N, then roll N+1 out over it with the change, under load; what it saw."""
        plan, balancer = self.plan, self.balancer
        connections = plan.workers * 2
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with (
            httpx.AsyncClient(limits=limits) as client,
            httpx.AsyncClient() as prober,
            migrator(migration_url, ini) as deploy,
        ):
            # Both releases' processes start at once; N+1's stay out of the rotation (and
            # unprobed) until they join, as pods a readiness gate holds back.
            old, new = await asyncio.gather(
                self.fleet.start(self.builds["N"], plan.replicas),
                self.fleet.start(self.builds["N+1"], plan.replicas),
            )
            balancer.join(old, prober)
            await balancer.wait_ready(old, START_SECONDS)
            await warm_up(client, old, plan)
            load = Load(balancer, client, plan.rows, plan.rate, plan.seed)
            workers = [
                asyncio.create_task(load.worker(number, plan.workers))
                for number in range(plan.workers)
            ]
            try:
                await self.change(deploy.upgrade, old, new, prober)
            finally:
                load.running = False
                await asyncio.gather(*workers)
                await balancer.close()
        return Outcome(
            self.mode,
            plan,
            load.requests,
            self.phases,
            balancer.probes,
            balancer.changes,
            migration_output=deploy.output,
            builds=self.builds,
        )

    async def change(
        self,
        migrate: Callable[[str], Awaitable[None]],
        old: list[Replica],
        new: list[Replica],
        prober: httpx.AsyncClient,
    ) -> None:
        """The phases, from N alone to N+1 alone."""
        plan = self.plan

        async def rename() -> None:
            async with await psycopg.AsyncConnection.connect(
                self.direct, autocommit=True
            ) as connection:
                await connection.execute(NAIVE_RENAME)

        async def join() -> None:
            self.balancer.join(new, prober)
            # A rolling update with no unavailability: the old replicas go only once the new
            # ones are ready.
            await self.balancer.wait_ready(new, START_SECONDS)

        async def drain() -> None:
            await self.balancer.leave(old)
            # The requests in flight finish; then the orchestrator stops the replicas.
            await asyncio.sleep(plan.drain)
            await self.fleet.stop(old)

        # Not measured: the first requests of each connection of release N.
        await self.phase("warm-up", WARM_UP_SECONDS)
        await self.phase("before", plan.before)
        if self.mode == "generated":
            await self.phase("expand", lambda: migrate("expand@head"))
        else:
            await self.phase("rename", rename)
        await self.phase("N+1 joins", join)
        await self.phase("both releases", plan.together)
        await self.phase("N drains", drain)
        if self.mode == "generated":
            await self.phase("contract", lambda: migrate("contract@head"))
        await self.phase("after", plan.after)


async def warm_up(client: httpx.AsyncClient, replicas: list[Replica], plan: Plan) -> None:
    """Open every connection the replicas' pools and the client will use, before measuring."""
    for replica in replicas:
        for _ in range(3):
            calls = [client.get(f"{replica.base}/ready") for _ in range(plan.workers)]
            for response in await asyncio.gather(*calls):
                response.raise_for_status()
