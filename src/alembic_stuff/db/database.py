"""The app's database: its two pools, created and disposed by the app's lifespan, and units of work.

A unit of work is a plain synchronous function written against SQLAlchemy's `Connection`.
`Database.transaction` runs it in one transaction, committed when it returns and rolled back
when it raises: that is the default, for writes and for anything of several statements.
`Database.autocommit_read` is the named exception: a single statement that only reads, run
without BEGIN and COMMIT on a pool whose sessions PostgreSQL keeps read-only.

Behind a pooler in transaction mode (DATABASE_POOLER=transaction) a server session is lent
for one transaction only: then reads run in a read-only transaction too, and each
transaction sets its own limits (see `_engine`, the one place the two ways differ).

Both run the unit of work through `AsyncSession.run_sync`, SQLAlchemy's documented bridge from
asyncio to its synchronous API: the driver is still asyncpg and the event loop never blocks,
and the checkout, the statements, the commit and the close all happen inside that one call,
so a request crosses between async and sync code once. Inside it the unit of work gets a
`Connection` from the session's bind (`engine.begin()`), not the session's own transaction:
the ORM's unit-of-work bookkeeping buys nothing for Core statements and costs CPU on every
request (docs/benchmarks.md).
"""

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Concatenate, NamedTuple, ParamSpec, TypeVar
from uuid import uuid4

from alembic_toolkit.compatibility import application_name
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

from alembic_stuff.schema_release import RELEASE
from alembic_stuff.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")
UnitOfWork = Callable[Concatenate[Connection, P], T]

# SQLSTATE invalid_sql_statement_name: a prepared statement the server does not have.
INVALID_STATEMENT_NAME = "26000"
# A pooled connection unused for longer than this is pinged before it is handed out.
IDLE_PING_AFTER_SECONDS = 1.0


class Engines(NamedTuple):
    """The app's pools: one for transactions, one for single-statement reads."""

    transactional: AsyncEngine
    autocommit: AsyncEngine

    @classmethod
    def create(cls, settings: Settings) -> "Engines":
        """Create both engines for `settings` (connections are opened lazily, on first use)."""
        return cls(_engine(settings, reads=False), _engine(settings, reads=True))


@dataclass(frozen=True)
class Database:
    """Runs units of work: in one transaction, or a lone reading statement in autocommit."""

    transaction_sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    # None when bound to a test's connection: the test owns it.
    engines: Engines | None
    # SQLAlchemy's async pool lets a newcomer take a connection that was just returned ahead
    # of requests already waiting for one: under load a few wait for seconds. Waiting here
    # instead, first come first served, keeps the tail short. One per pool, as large as it.
    transaction_slots: asyncio.Semaphore
    read_slots: asyncio.Semaphore

    @classmethod
    def connect(cls, settings: Settings) -> "Database":
        """Create the pools for `settings`; nothing connects before the first unit of work."""
        engines = Engines.create(settings)
        return cls(
            transaction_sessions=async_sessionmaker(engines.transactional),
            read_sessions=async_sessionmaker(engines.autocommit),
            engines=engines,
            transaction_slots=asyncio.Semaphore(settings.database_pool_size),
            read_slots=asyncio.Semaphore(settings.database_pool_size),
        )

    @classmethod
    def bound_to(cls, connection: AsyncConnection) -> "Database":
        """Run every unit of work on `connection` in a savepoint (tests roll it all back)."""
        if connection.sync_connection is None:
            raise ValueError("bound_to needs a started connection: use `async with` first")
        sessions = async_sessionmaker(bind=connection)
        # One connection: one unit of work at a time on it, whichever kind.
        one_at_a_time = asyncio.Semaphore(1)
        return cls(
            transaction_sessions=sessions,
            read_sessions=sessions,
            engines=None,
            transaction_slots=one_at_a_time,
            read_slots=one_at_a_time,
        )

    async def transaction(self, work: UnitOfWork[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work(connection, ...)` in one transaction: committed if it returns, else undone."""
        async with self.transaction_slots:
            session = self.transaction_sessions()
            return await session.run_sync(_on_bind, work, args, kwargs)

    async def autocommit_read(
        self, work: UnitOfWork[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `work(connection, ...)`, a single statement that only reads, in autocommit.

        No BEGIN and COMMIT round trips around it; PostgreSQL runs a lone statement atomically.
        The server refuses writes here; a second statement would see a later snapshot than
        the first, so work of several statements belongs in `transaction`. Behind a
        transaction pooler it runs in a read-only transaction instead, with the same effect.
        """
        async with self.read_slots:
            session = self.read_sessions()
            return await session.run_sync(_on_bind, work, args, kwargs)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        for engine in self.engines or ():
            await engine.dispose()


def _engine(settings: Settings, *, reads: bool) -> AsyncEngine:
    """One of the app's pools, set up for the way DATABASE_POOLER says PostgreSQL is reached.

    Direct, the statement timeout and read-only mode are settings of each session, sent when
    it opens, and reads run in autocommit: nothing is sent per request beyond the work.
    Through a transaction pooler a session is lent for one transaction only, and the pooler
    refuses settings sent when connecting; so every unit of work runs in a transaction that
    sets them for itself (`set_config(..., true)`, i.e. SET LOCAL), and statements are
    prepared under unique names and never cached, as SQLAlchemy's asyncpg documentation says.
    """
    session: dict[str, str] = {
        "statement_timeout": _ms(settings.database_statement_timeout_seconds),
    }
    if reads:
        # A write sent down the read path by mistake fails instead of being committed.
        session["transaction_read_only"] = "on"
    connect_args: dict[str, Any] = {
        # asyncpg's own default waits a minute for a server that accepts the TCP
        # connection but never answers (a stopped or overloaded one).
        "timeout": settings.database_connect_timeout_seconds,
        "server_settings": {
            # Names the release in pg_stat_activity, for people; alembic-contract reads the
            # registry of serving replicas instead (api/heartbeat.py). Poolers pass it on.
            "application_name": application_name("alembic-stuff", RELEASE),
        },
    }
    options: dict[str, Any] = {
        "pool_size": settings.database_pool_size,
        "max_overflow": 0,
        # Errors are logged; the values a request sent are not theirs to print.
        "hide_parameters": True,
    }
    if settings.database_pooler == "direct":
        connect_args["server_settings"].update(_as_session_defaults(session))
        if reads:
            # An autocommit connection never holds a transaction, so there is nothing to
            # roll back when it goes back to its pool: no reset on return.
            options.update(isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
        engine = create_async_engine(settings.app_url, connect_args=connect_args, **options)
        _explain_refused_startup_settings(engine)
    else:
        connect_args.update(TRANSACTION_POOLER_CONNECT_ARGS)
        engine = create_async_engine(settings.app_url, connect_args=connect_args, **options)
        _set_in_each_transaction(engine, session)
    _ping_connections_that_sat_idle(engine)
    _discard_connections_that_lost_a_statement(engine)
    return engine


# SQLAlchemy's asyncpg recipe for PgBouncer: no statement cache (asyncpg's or SQLAlchemy's),
# whose statements would be missing from the next transaction's server session, and a unique
# name for each prepared statement, which another client's may not collide with there.
TRANSACTION_POOLER_CONNECT_ARGS: dict[str, Any] = {
    "statement_cache_size": 0,
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": lambda: f"__asyncpg_{uuid4()}__",
}


def _as_session_defaults(session: dict[str, str]) -> dict[str, str]:
    """`session` as settings sent on connecting: read-only as every transaction's default."""
    renamed = {"transaction_read_only": "default_transaction_read_only"}
    return {renamed.get(name, name): value for name, value in session.items()}


def _set_in_each_transaction(engine: AsyncEngine, session: dict[str, str]) -> None:
    """Make `session` the first statement of every transaction, for that transaction alone."""
    setters = ", ".join(f"set_config('{name}', '{value}', true)" for name, value in session.items())
    statement = f"SELECT {setters}"

    @event.listens_for(engine.sync_engine, "begin")
    def _set_locally(connection: Connection) -> None:
        connection.exec_driver_sql(statement)


class StartupSettingRefusedError(ConnectionError):
    """A pooler refused a setting sent on connecting: a refused connection, so a 503."""


def _explain_refused_startup_settings(engine: AsyncEngine) -> None:
    """Turn a pooler's refusal of a connection's settings into one line naming the fix."""

    @event.listens_for(engine.sync_engine, "handle_error")
    def _name_the_setting(context: ExceptionContext) -> BaseException | None:
        refusal = str(context.original_exception).strip().splitlines()
        if not refusal or not refusal[0].startswith(REFUSED_STARTUP_SETTING):
            return None
        return StartupSettingRefusedError(
            f"the database refused a setting sent on connecting ({refusal[0]}): a pooler in "
            "transaction mode (PgBouncer) is in between; set DATABASE_POOLER=transaction"
        )


# How PgBouncer refuses a startup parameter it does not pass on.
REFUSED_STARTUP_SETTING = "unsupported startup parameter"


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _on_bind(
    session: Session, work: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    """Run `work` on a connection of the session's bind, in a transaction (see `_begun`).

    The session is only the way in: it never begins a transaction of its own or holds a
    connection, so there is nothing for it to close afterwards.
    """
    with _begun(session.get_bind()) as connection:
        return checked(work, work(connection, *args, **kwargs))


@contextmanager
def _begun(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection in a transaction: committed if the block returns, else rolled back.

    On the autocommit pool (direct) the BEGIN and COMMIT are SQLAlchemy's alone: asyncpg
    sends none.
    A `Connection` is a test's (`Database.bound_to`), its transaction begun: a savepoint,
    released or rolled back, so a statement that fails leaves the test's transaction usable.
    """
    if isinstance(bind, Connection):
        with bind.begin_nested():
            yield bind
        return
    with bind.begin() as connection:
        yield connection


def checked(work: Callable[..., object], result: T) -> T:
    """Return `result`, refusing the coroutine an `async def` unit of work returns instead."""
    if inspect.iscoroutine(result):
        # An `async def` unit of work would have run nothing; say so instead of handing the
        # caller an unawaited coroutine for a result.
        result.close()
        raise TypeError(
            f"{getattr(work, '__qualname__', work)} is async: a unit of work is a plain "
            "function using SQLAlchemy's synchronous API on the Connection it is given"
        )
    return result


def _ping_connections_that_sat_idle(engine: AsyncEngine) -> None:
    """Replace a dead connection before use, at the cost of a ping only after idleness.

    `pool_pre_ping` would ping on every checkout: a round trip per request. Under load the
    connections are never idle, and a database restart is noticed by the first query that
    fails, which invalidates the whole pool; what is left is the connection that sat idle
    through a restart, and that is the one pinged here.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _remember_when(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_AFTER_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool's documented contract: it discards this one and tries a new connection.
            raise DisconnectionError from exc


def _discard_connections_that_lost_a_statement(engine: AsyncEngine) -> None:
    """Replace a connection whose prepared statements are gone, not every pooled connection.

    A pooler that switched server connections, or a DEALLOCATE, leaves asyncpg's statement
    cache naming statements the server no longer has (SQLSTATE 26000): every later request on
    that connection would fail the same way. Marked as a disconnect, the pool drops it.
    """

    @event.listens_for(engine.sync_engine, "handle_error")
    def _discard(context: ExceptionContext) -> None:
        if getattr(context.original_exception, "sqlstate", None) == INVALID_STATEMENT_NAME:
            context.is_disconnect = True
            context.invalidate_pool_on_disconnect = False
