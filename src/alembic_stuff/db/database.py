"""The app's database: engines created and disposed by the app's lifespan, and units of work.

A unit of work is a plain synchronous function written against SQLAlchemy's `Connection`.
`Database.run` and `Database.transaction` run it inside one greenlet, the bridge SQLAlchemy's
asyncio extension is built on: the driver is still asyncpg and the event loop is never
blocked, but a request crosses between async and sync code once, instead of once for every
checkout, statement, result and close as `AsyncSession` and `AsyncConnection` do. On a single
core that crossing was a quarter of a request's time.
"""

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import greenlet_spawn

from alembic_stuff.compatibility import application_name
from alembic_stuff.schema_release import RELEASE
from alembic_stuff.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")
Opener = Callable[[], AbstractContextManager[Connection]]

# A pooled connection unused for longer than this is pinged before it is handed out.
IDLE_PING_AFTER_SECONDS = 1.0


@dataclass(frozen=True)
class Database:
    """Runs units of work, in autocommit or in one transaction."""

    autocommit: Opener
    begin: Opener
    engines: tuple[AsyncEngine, ...]
    # SQLAlchemy's async pool lets a newcomer take a connection that was just returned ahead
    # of requests already waiting for one: under load a few wait for seconds. Waiting here
    # instead, first come first served, keeps the tail short.
    autocommit_slots: asyncio.Semaphore
    transaction_slots: asyncio.Semaphore

    @classmethod
    def connect(cls, settings: Settings) -> "Database":
        """Create the engines for `settings` (connections are opened lazily, on first use)."""
        options: dict[str, Any] = {
            "pool_size": settings.database_pool_size,
            "max_overflow": 0,
            # Errors are logged; the values a request sent are not theirs to print.
            "hide_parameters": True,
            "connect_args": {
                # asyncpg's own default waits a minute for a server that accepts the TCP
                # connection but never answers (a stopped or overloaded one).
                "timeout": settings.database_connect_timeout_seconds,
                "server_settings": {
                    "statement_timeout": _ms(settings.database_statement_timeout_seconds),
                    # Names the contract revisions this release survives: alembic-contract
                    # refuses while a session of an older release is connected.
                    "application_name": application_name("alembic-stuff", RELEASE),
                },
            },
        }
        engine = create_async_engine(settings.app_url, **options)
        # An autocommit connection never holds a transaction, so there is nothing to roll
        # back when it goes back to its pool: no reset on return.
        autocommit_engine = create_async_engine(
            settings.app_url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **options
        )
        for each in (engine, autocommit_engine):
            _ping_connections_that_sat_idle(each)
        return cls(
            autocommit=autocommit_engine.sync_engine.connect,
            begin=engine.sync_engine.begin,
            engines=(engine, autocommit_engine),
            autocommit_slots=asyncio.Semaphore(settings.database_pool_size),
            transaction_slots=asyncio.Semaphore(settings.database_pool_size),
        )

    @classmethod
    def bound_to(cls, connection: AsyncConnection) -> "Database":
        """Run every unit of work on `connection` in a savepoint (tests roll it all back)."""
        sync_connection = connection.sync_connection
        if sync_connection is None:
            raise ValueError("bound_to needs a started connection: use `async with` first")

        # Released when the unit of work returns, rolled back when it raises: a statement that
        # fails leaves the test's transaction usable, as it would leave an autocommit one.
        @contextmanager
        def savepoint() -> Iterator[Connection]:
            with sync_connection.begin_nested():
                yield sync_connection

        return cls(
            autocommit=savepoint,
            begin=savepoint,
            engines=(),
            autocommit_slots=asyncio.Semaphore(1),
            transaction_slots=asyncio.Semaphore(1),
        )

    async def run(
        self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `work(connection, ...)` in autocommit: each statement commits on its own."""
        async with self.autocommit_slots:
            return await greenlet_spawn(partial(_on, self.autocommit, work, *args, **kwargs))

    async def transaction(
        self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `work(connection, ...)` in one transaction: committed if it returns, else undone."""
        async with self.transaction_slots:
            return await greenlet_spawn(partial(_on, self.begin, work, *args, **kwargs))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        for engine in self.engines:
            await engine.dispose()


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _on(opener: Opener, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with opener() as connection:
        result = work(connection, *args, **kwargs)
        if inspect.iscoroutine(result):
            # An `async def` unit of work would have run nothing; say so instead of handing
            # the caller an unawaited coroutine for a result.
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
