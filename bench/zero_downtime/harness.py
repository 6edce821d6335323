"""The proof: release N and release N+1 served at once, under load, while the schema changes.

`prove()` fills the proof's `item` table, serves both releases with uvicorn (two processes,
one database), drives mixed traffic at the releases a load balancer would send to (reads of
random keys, creates, renames, deletes), and meanwhile runs the change:

- expand-contract: `alembic upgrade expand@head` (add `name`, sync triggers, batched
  backfill) with release N serving; then release N+1 joins it; then release N leaves (the
  switch); then `alembic upgrade contract@head` (drop the trigger and `label`);
- naive: `ALTER TABLE item RENAME COLUMN label TO name` with release N serving, then the same
  switch: the one-step rename, for contrast.

A sampler process watches lock waits throughout. The outcome holds every request, the
phases, the lock waits and the backfill's rate; `Outcome.line()` is the summary line. Used
by tests/zerodowntime/test_under_load.py (CI-sized) and `pipenv run bench --zero-downtime`.
"""

import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import psycopg
from sqlalchemy import URL

from alembic_stuff.settings import Settings
from bench.zero_downtime.consistency import NO_ANSWER, Mismatch, Request, mismatches
from bench.zero_downtime.revisions import ROOT, alembic, base_revision, environment
from support.http import answers
from support.scratch import free_port

RELEASES = {
    "N": "bench.zero_downtime.releases:release_n",
    "N+1": "bench.zero_downtime.releases:release_n_plus_1",
}
Mode = Literal["expand-contract", "naive"]
NAIVE_RENAME = "ALTER TABLE item RENAME COLUMN label TO name"
# The share of reads and renames aimed at a few hot keys, so that both releases write and
# read the same rows often, and the rest at any key.
HOT_KEYS = 64
HOT_SHARE = 0.5
# The last keys created, which some reads go back to (a create through one release, read
# through the other).
RECENT_KEYS = 64
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
    before: float = 2.0  # release N alone, before the change
    together: float = 1.0  # both releases serving, after the expand
    drain: float = 0.5  # release N out of rotation, before the contract
    after: float = 0.5  # release N+1 alone, after the contract
    pool_size: int = 4  # each release's connections, for reads and again for writes
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
    locks: dict[str, object]
    stale: list[Mismatch]
    backfill_rows_per_second: float | None = None
    single_update_rows_per_second: float | None = None
    migration_output: str = ""

    @property
    def failures(self) -> list[Request]:
        """Requests with no answer, or an answer their operation never gives when it works."""
        return [request for request in self.requests if request.failed]

    @property
    def failed(self) -> int:
        """Failed requests and stale answers."""
        return len(self.failures) + len(self.stale)

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
            f"backfill {rate:.0f} rows/s"
        )

    def failures_by_kind(self) -> dict[str, int]:
        """How many requests failed, by release and answer (0: no answer), and stale answers."""
        kinds: dict[str, int] = {}
        for request in self.failures:
            kind = f"release {request.release}, {request.operation}, status {request.status}"
            kinds[kind] = kinds.get(kind, 0) + 1
        for mismatch in self.stale:
            kind = f"release {mismatch.request.release}, stale {mismatch.request.operation}"
            kinds[kind] = kinds.get(kind, 0) + 1
        return kinds


def initial_name(key: int) -> str:
    """The name item `key` is created with."""
    return f"item {key}"


def prove(database: URL, plan: Plan, mode: Mode, *, log: bool = False) -> Outcome:
    """Run the proof on an empty `database` (a driver-less URL); the table is left there."""
    settings = Settings(_env_file=None, database_url=database.render_as_string(hide_password=False))
    dsn = database.render_as_string(hide_password=False)
    alembic(settings, "upgrade", base_revision())
    fill(dsn, plan.rows)
    with serving(database, plan) as bases, sampling(dsn, plan.sample_interval_ms) as sampler:
        outcome = asyncio.run(_run(settings, dsn, bases, plan, mode, log))
        outcome.locks = sampler.result()
    outcome.stale = mismatches(
        outcome.requests, lambda key: initial_name(key) if key <= plan.rows else None
    )
    if mode == "expand-contract":
        outcome.backfill_rows_per_second = backfill_rate(dsn)
        outcome.single_update_rows_per_second = single_update_rate(dsn, plan.rows)
    return outcome


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


# The releases and the sampler ----------------------------------------------------------------


@contextmanager
def serving(database: URL, plan: Plan) -> Iterator[dict[str, str]]:
    """Serve both releases with uvicorn, each in its own process; yield their base URLs."""
    environment = {
        **os.environ,
        "DATABASE_URL": database.render_as_string(hide_password=False),
        "DATABASE_POOL_SIZE": str(plan.pool_size),
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    bases: dict[str, str] = {}
    logs = Path(tempfile.mkdtemp(prefix="zero-downtime-releases-"))
    try:
        for release, factory in RELEASES.items():
            port = free_port()
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                factory,
                "--factory",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ]
            # Their logs (a traceback for each 500 of the one-step rename) go to a file.
            with (logs / f"release-{release}.log").open("wb") as log:
                processes[release] = subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Like the sampler and the migrator, in a session of its own: Ctrl-C at
                    # the terminal reaches the harness alone, which stops them in order
                    # (each would otherwise die at once, with a traceback of its own, and
                    # fail the run under the harness's feet).
                    start_new_session=True,
                )
            bases[release] = f"http://127.0.0.1:{port}"
        for release, base in bases.items():
            _wait_until_up(base, processes[release], logs / f"release-{release}.log")
        yield bases
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(logs, ignore_errors=True)


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    if not answers(f"{base}/health", process, seconds=60):
        raise RuntimeError(f"{log.stem} did not start: {log.read_text()[-2000:]}")


class Sampler:
    """The lock-wait sampler's process."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._result: dict[str, object] | None = None

    def stop(self) -> None:
        """Stop sampling and read what it saw."""
        if self._result is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        output, errors = self.process.communicate(timeout=30)
        if self.process.returncode != 0 or not output.strip():
            raise RuntimeError(f"the lock sampler failed: {errors.strip()}")
        self._result = json.loads(output)

    def result(self) -> dict[str, object]:
        """What it saw (it is stopped first)."""
        self.stop()
        assert self._result is not None  # noqa: S101 - stop() sets it or raises
        return self._result


@contextmanager
def sampling(dsn: str, interval_ms: float) -> Iterator[Sampler]:
    """Sample lock waits on the database in a process of its own while the block runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.zero_downtime.sampler", dsn, str(interval_ms)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # see serving()
    )
    sampler = Sampler(process)
    try:
        assert process.stderr is not None  # noqa: S101 - piped above
        if process.stderr.readline().strip() != "ready":
            raise RuntimeError("the lock sampler did not start")
        yield sampler
    finally:
        # Not stopped by the block: the run failed or was interrupted, and what the sampler
        # saw is not wanted (reading it could wait on a full pipe).
        if process.poll() is None:
            process.kill()
            process.communicate()


# The load and the change ---------------------------------------------------------------------


class Load:
    """Mixed traffic at the releases in rotation, every request recorded."""

    def __init__(self, clients: dict[str, httpx.AsyncClient], plan: Plan) -> None:
        self.clients = clients
        self.plan = plan
        self.rotation = ["N"]
        self.requests: list[Request] = []
        self.keys = list(range(1, plan.rows + 1))
        # Seeded, for runs that can be compared.
        seeded = random.Random(plan.seed)  # noqa: S311 - picks load keys, draws nothing secret
        self.hot = seeded.sample(self.keys, min(HOT_KEYS, plan.rows))
        hot = set(self.hot)
        # Deletes go to other keys, so that the hot ones stay hot.
        self.deletable = [key for key in self.keys if key not in hot]
        self.recent: list[int] = []
        self.running = True
        self.written = 0

    async def worker(self, number: int) -> None:
        """Send requests at this worker's share of the rate until stopped."""
        rng = random.Random(self.plan.seed + number)  # noqa: S311 - load, not secrets
        interval = self.plan.workers / self.plan.rate
        next_at = time.monotonic() + rng.random() * interval
        while self.running:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            # Late (the machine is busy): send now, without a burst to catch up.
            next_at = max(next_at + interval, time.monotonic())
            await self.one(rng, number)

    def _key(self, rng: random.Random) -> int:
        roll = rng.random()
        if roll < HOT_SHARE:
            return rng.choice(self.hot)
        if roll < HOT_SHARE + 0.1 and self.recent:
            return rng.choice(self.recent)
        return rng.choice(self.keys)

    async def one(self, rng: random.Random, number: int) -> None:
        """One request: a read, create, rename or delete, through a release in rotation."""
        release = rng.choice(self.rotation)
        client = self.clients[release]
        roll = rng.random()
        self.written += 1
        name = f"w{number}-{self.written}"
        key: int | None
        if roll < 0.55:
            operation, key, value = "read", self._key(rng), None
            call = client.get(f"/items/{key}")
        elif roll < 0.8:
            operation, key, value = "update", self._key(rng), name
            call = client.patch(f"/items/{key}", json={"name": name})
        elif roll < 0.9:
            operation, key, value = "create", None, name
            call = client.post("/items", json={"name": name})
        else:
            operation, key, value = "delete", rng.choice(self.deletable), None
            call = client.delete(f"/items/{key}")
        sent = time.monotonic()
        try:
            response = await call
            status = response.status_code
        except httpx.HTTPError:
            status, response = NO_ANSWER, None
        answered = time.monotonic()
        if response is not None and status in {200, 201}:
            body = response.json()
            if operation == "create":
                key = int(body["id"])
                self.keys.append(key)
                self.deletable.append(key)
                self.recent = [*self.recent[-(RECENT_KEYS - 1) :], key]
            if operation == "read":
                value = str(body["name"])
        self.requests.append(Request(release, operation, key, sent, answered, status, value))


@asynccontextmanager
async def clients(bases: dict[str, str], plan: Plan) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """An HTTP client per release, with a connection per worker."""
    limits = httpx.Limits(max_connections=plan.workers, max_keepalive_connections=plan.workers)
    opened = {
        release: httpx.AsyncClient(base_url=base, timeout=5.0, limits=limits)
        for release, base in bases.items()
    }
    try:
        yield opened
    finally:
        for client in opened.values():
            await client.aclose()


async def _run(
    settings: Settings, dsn: str, bases: dict[str, str], plan: Plan, mode: Mode, log: bool
) -> Outcome:
    phases: list[Phase] = []

    async def phase(name: str, step: float | Callable[[], Awaitable[None]]) -> None:
        started = time.monotonic()
        if log:
            print(f"zero-downtime ({mode}): {name}", file=sys.stderr, flush=True)
        if isinstance(step, float):
            await asyncio.sleep(step)
        else:
            await step()
        phases.append(Phase(name, started, time.monotonic()))

    async def rename() -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as connection:
            await connection.execute(NAIVE_RENAME)

    async with clients(bases, plan) as opened, migrator(settings) as deploy:
        await warm_up(opened, plan)
        load = Load(opened, plan)
        workers = [asyncio.create_task(load.worker(number)) for number in range(plan.workers)]
        try:
            # Not measured: the first requests of each connection of release N.
            await phase("warm-up", WARM_UP_SECONDS)
            await phase("before", plan.before)
            if mode == "expand-contract":
                await phase("expand", lambda: deploy.upgrade("expand@head"))
            else:
                await phase("rename", rename)
            load.rotation = ["N", "N+1"]
            await phase("both releases", plan.together)
            load.rotation = ["N+1"]
            await phase("switched to N+1", plan.drain)
            if mode == "expand-contract":
                await phase("contract", lambda: deploy.upgrade("contract@head"))
            await phase("after", plan.after)
        finally:
            load.running = False
            await asyncio.gather(*workers)
    return Outcome(mode, plan, load.requests, phases, {}, [], migration_output=deploy.output)


async def warm_up(opened: dict[str, httpx.AsyncClient], plan: Plan) -> None:
    """Open every connection the releases' pools and the clients will use, before measuring."""
    for client in opened.values():
        for _ in range(3):
            calls = [client.get("/ready") for _ in range(plan.workers)]
            for response in await asyncio.gather(*calls):
                response.raise_for_status()


class Migrator:
    """The deploy job's process (bench/zero_downtime/migrator.py), started ahead of the change."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output = ""  # its stderr (the backfill's progress), once it has stopped

    async def upgrade(self, target: str) -> None:
        """Upgrade to `target`; fail with the migration's message if it fails."""
        assert self.process.stdin is not None  # noqa: S101 - piped
        assert self.process.stdout is not None  # noqa: S101 - piped
        self.process.stdin.write(f"{target}\n".encode())
        await self.process.stdin.drain()
        answer = (await self.process.stdout.readline()).decode().strip()
        if answer != "ok":
            raise RuntimeError(f"alembic upgrade {target}: {answer or 'no answer'}")


@asynccontextmanager
async def migrator(settings: Settings) -> AsyncIterator[Migrator]:
    """Start the deploy job's process, and wait until it has imported everything."""
    with tempfile.TemporaryDirectory(prefix="zero-downtime-") as folder:
        log = Path(folder) / "migrator.log"
        with log.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.zero_downtime.migrator",
                cwd=ROOT,
                env=environment(settings),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
                start_new_session=True,  # see serving()
            )
        running = Migrator(process)
        try:
            assert process.stdout is not None  # noqa: S101 - piped
            if (await process.stdout.readline()).strip() != b"ready":
                raise RuntimeError(f"the migrator did not start: {log.read_text()}")
            yield running
        except BaseException:
            # Failed or interrupted (Ctrl-C cancels the run): the migration it may be running
            # is not waited for; its scratch database is dropped.
            process.kill()
            raise
        finally:
            if process.stdin is not None:
                process.stdin.close()
            await process.wait()
            running.output = log.read_text()
