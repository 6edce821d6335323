"""DDL under a short lock_timeout, retried with backoff, like GitLab's `with_lock_retries`.

A DDL statement that needs a strong lock (ALTER TABLE, CREATE TRIGGER, ...) queues behind any
transaction holding a conflicting lock, and every query on the table then queues behind the
DDL: one long transaction turns a millisecond ALTER into an outage. So each attempt waits at
most a short `lock_timeout`; when it runs out, the attempt is rolled back to a savepoint,
the helper sleeps (letting the queue drain), and tries again with a longer timeout. When the
attempts run out, the revision fails with one line naming the session that held the lock
(found with `pg_blocking_pids()` while the last attempt waited), and the revision's
transaction rolls back whole: nothing is half-applied.

Attempts run inside the revision's transaction (Alembic's `transaction_per_migration`), each in
a savepoint. Locks the transaction took before the call stay held between attempts, so put the
call first in its revision, or give the DDL a revision of its own.
"""

import importlib.util
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from alembic import op
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from alembic_toolkit.sqlstate import LOCK_NOT_AVAILABLE, sqlstate
from alembic_toolkit.zerodowntime.errors import ZeroDowntimeError
from alembic_toolkit.zerodowntime.sql import seconds_setting

T = TypeVar("T")

# How often the watcher asks who blocks the waiting attempt.
WATCH_INTERVAL = 0.02
# How much of the blocker's query the error message quotes.
QUERY_EXCERPT = 200


@dataclass(frozen=True)
class LockRetries:
    """How long each attempt may wait for its locks, and how long to sleep between attempts.

    Attempt n waits `lock_timeout * 2**n` (at most `max_lock_timeout`), then sleeps
    `backoff * 2**n` (at most `max_backoff`). The defaults give up after about 15 s.
    """

    attempts: int = 8
    lock_timeout: float = 0.1
    max_lock_timeout: float = 2.0
    backoff: float = 0.05
    max_backoff: float = 2.0

    def schedule(self) -> list[tuple[float, float]]:
        """(lock_timeout, sleep afterwards) for each attempt, in seconds."""
        return [
            (
                min(self.lock_timeout * 2**attempt, self.max_lock_timeout),
                min(self.backoff * 2**attempt, self.max_backoff),
            )
            for attempt in range(self.attempts)
        ]


@dataclass(frozen=True)
class Blocker:
    """A session that held a lock an attempt waited for."""

    pid: int
    state: str
    seconds_in_transaction: float | None
    query: str
    waited_for: str

    def describe(self) -> str:
        """One line: the pid, what it is doing, and its query."""
        held = (
            f" for {self.seconds_in_transaction:.1f} s"
            if self.seconds_in_transaction is not None
            else ""
        )
        query = " ".join(self.query.split())
        if len(query) > QUERY_EXCERPT:
            query = query[: QUERY_EXCERPT - 3] + "..."
        return f'pid {self.pid} ({self.state}{held}) running "{query}"'


def with_lock_retries(ddl: Callable[[], T], retries: LockRetries | None = None) -> T:
    """Run `ddl` (a function issuing `op.*` calls) under lock_timeout, retrying with backoff."""
    policy = retries or LockRetries()
    context = op.get_context()
    if context.as_sql:
        # Offline SQL: there is nothing to wait for; the script bounds the wait itself.
        op.execute(f"SET LOCAL lock_timeout = '{seconds_setting(policy.lock_timeout)}'")
        return ddl()
    connection = op.get_bind()
    autocommit = connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    if autocommit or not connection.in_transaction():
        raise ZeroDowntimeError(
            "with_lock_retries needs the revision's transaction: call it outside "
            "autocommit_block() (its attempts are rolled back to a savepoint)"
        )
    pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    previous = connection.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
    watcher = _watcher_engine(connection.engine)
    try:
        return _attempts(connection, ddl, policy, watcher, pid, previous)
    finally:
        if watcher is not None and watcher is not connection.engine:
            watcher.dispose()


def _attempts(
    connection: Connection,
    ddl: Callable[[], T],
    policy: LockRetries,
    watcher: Engine | None,
    pid: int,
    previous: str,
) -> T:
    """Run `ddl` in a savepoint per attempt, as `with_lock_retries` describes."""
    started = time.monotonic()
    blockers: list[Blocker] = []
    schedule = policy.schedule()
    for attempt, (lock_timeout, sleep) in enumerate(schedule, start=1):
        savepoint = connection.begin_nested()
        _set_lock_timeout(connection, seconds_setting(lock_timeout))
        try:
            with _watching(watcher, pid) as blockers:
                result = ddl()
        except DBAPIError as error:
            savepoint.rollback()
            if sqlstate(error) != LOCK_NOT_AVAILABLE:
                raise
            if attempt < len(schedule):
                time.sleep(sleep)
            continue
        _set_lock_timeout(connection, previous)
        savepoint.commit()
        return result
    raise ZeroDowntimeError(_exhausted(policy, time.monotonic() - started, blockers))


def _set_lock_timeout(connection: Connection, value: str) -> None:
    # Local to the transaction, and undone with the savepoint when the attempt rolls back.
    connection.execute(text("SELECT set_config('lock_timeout', :value, true)"), {"value": value})


def _exhausted(policy: LockRetries, seconds: float, blockers: list[Blocker]) -> str:
    tried = f"{policy.attempts} attempts over {seconds:.1f} s"
    if not blockers:
        return (
            f"could not take the locks this DDL needs in {tried} (lock_timeout); the "
            "revision was rolled back: retry when the database is quieter"
        )
    first = blockers[0]
    others = f" and {len(blockers) - 1} more" if len(blockers) > 1 else ""
    return (
        f"could not take {first.waited_for} in {tried}: blocked by {first.describe()}{others}; "
        f"the revision was rolled back: retry once it finishes, or end it with "
        f"SELECT pg_terminate_backend({first.pid})"
    )


_BLOCKERS = text(
    """
    SELECT activity.pid, coalesce(activity.state, 'unknown'),
           extract(epoch FROM now() - activity.xact_start)::float8,
           coalesce(activity.query, ''),
           coalesce(
               (SELECT lower(wanted.mode) || ' on ' || coalesce(wanted.relation::regclass::text,
                                                                wanted.locktype)
                FROM pg_locks AS wanted
                WHERE wanted.pid = :pid AND NOT wanted.granted
                LIMIT 1),
               'a lock')
    FROM unnest(pg_blocking_pids(:pid)) AS blocking(pid)
    JOIN pg_stat_activity AS activity ON activity.pid = blocking.pid
    ORDER BY activity.xact_start NULLS LAST
    """
)


# Synchronous drivers the watcher can use when the migration runs on an asyncio driver, whose
# connections a plain thread cannot open: the first one installed is used.
SYNC_DRIVERS = (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2"))
# URL options of SQLAlchemy's asyncpg dialect that libpq would refuse.
ASYNCPG_ONLY = {"prepared_statement_cache_size", "prepared_statement_name_func"}


def _watcher_engine(engine: Engine) -> Engine | None:
    """An engine the watcher thread can connect with, or None when there is none.

    A migration on asyncpg (`alembic init -t async`) runs in a greenlet; a thread outside it
    cannot open a connection of the same engine. So the watcher gets its own engine, on the
    same URL with a synchronous driver, its query in libpq's terms.
    """
    if not engine.dialect.is_async:
        return engine
    query = {k: v for k, v in engine.url.query.items() if k not in ASYNCPG_ONLY}
    if "ssl" in query:
        # asyncpg's ssl takes libpq's sslmode values.
        query["sslmode"] = query.pop("ssl")
    for module, driver in SYNC_DRIVERS:
        if importlib.util.find_spec(module) is not None:
            url = engine.url.set(drivername=driver, query=query)
            return create_engine(url, poolclass=NullPool)
    return None


@contextmanager
def _watching(engine: Engine | None, pid: int) -> Iterator[list[Blocker]]:
    """Sample, from a second connection, who blocks session `pid` while the block runs.

    The waiting statement cannot ask itself, and once lock_timeout cancels it the lock
    graph no longer shows what it waited for, so the answer is collected while it waits.
    The list holds the blockers of the latest sample that found any. Without an engine
    (no synchronous driver beside an asyncio one), nothing is sampled.
    """
    seen: list[Blocker] = []
    if engine is None:
        yield seen
        return
    done = threading.Event()

    def watch() -> None:
        try:
            with engine.connect() as watcher:
                watcher.execute(text("SELECT set_config('statement_timeout', '1s', false)"))
                while not done.wait(WATCH_INTERVAL):
                    rows = watcher.execute(_BLOCKERS, {"pid": pid}).all()
                    watcher.rollback()
                    if rows:
                        seen[:] = [Blocker(*row) for row in rows]
        except DBAPIError:
            # Naming the blocker is a courtesy: without a second connection the error
            # message says less, and the retries behave the same.
            return

    thread = threading.Thread(target=watch, name="zerodowntime-lock-watcher", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join()
