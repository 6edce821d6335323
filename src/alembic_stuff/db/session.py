"""The app's database: engines created and disposed by the app's lifespan, and units of work.

A unit of work is a plain synchronous function written against SQLAlchemy's ordinary API (a
`Connection` for reads, a `Session` for writes). `Database.read` and `Database.write` run it
inside one greenlet, the bridge SQLAlchemy's asyncio extension is built on: the driver is still
asyncpg and the event loop is never blocked, but a request crosses between async and sync code
once, instead of once for every checkout, statement, result and close as `AsyncSession` and
`AsyncConnection` do. On a single core that crossing was a quarter of a request's time.
"""

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import greenlet_spawn

from alembic_stuff.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

# A pooled connection unused for longer than this is pinged before it is handed out.
IDLE_PING_AFTER_SECONDS = 1.0


@dataclass(frozen=True)
class Database:
    """Runs units of work: reads on autocommit connections, writes in sessions."""

    connect_for_read: Callable[[], AbstractContextManager[Connection]]
    new_session: Callable[[], Session]
    engines: tuple[AsyncEngine, ...]
    # SQLAlchemy's async pool lets a newcomer take a connection that was just returned ahead
    # of requests already waiting for one: under load a few wait for seconds. Waiting here
    # instead, first come first served, keeps the tail short.
    read_slots: asyncio.Semaphore
    write_slots: asyncio.Semaphore

    @classmethod
    def connect(cls, settings: Settings) -> "Database":
        """Create the engines for `settings` (connections are opened lazily, on first use)."""
        pool = {"pool_size": settings.database_pool_size, "max_overflow": 0}
        engine = create_async_engine(settings.app_url, **pool)
        # Reads run in autocommit: each statement sees committed data, with no BEGIN and
        # ROLLBACK round trips around it. Such a connection never holds a transaction, so
        # there is nothing to reset when it goes back to its pool.
        read_engine = create_async_engine(
            settings.app_url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **pool
        )
        for each in (engine, read_engine):
            _ping_connections_that_sat_idle(each)
        return cls(
            connect_for_read=read_engine.sync_engine.connect,
            new_session=sessionmaker(engine.sync_engine, expire_on_commit=False),
            engines=(engine, read_engine),
            read_slots=asyncio.Semaphore(settings.database_pool_size),
            write_slots=asyncio.Semaphore(settings.database_pool_size),
        )

    @classmethod
    def bound_to(cls, connection: AsyncConnection) -> "Database":
        """Run every unit of work on `connection`, writes in savepoints (tests roll it back)."""
        sync_connection = connection.sync_connection
        if sync_connection is None:
            raise ValueError("bound_to needs a started connection: use `async with` first")

        @contextmanager
        def shared() -> Iterator[Connection]:
            yield sync_connection

        return cls(
            connect_for_read=shared,
            new_session=sessionmaker(
                sync_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            ),
            engines=(),
            read_slots=asyncio.Semaphore(1),
            write_slots=asyncio.Semaphore(1),
        )

    async def read(
        self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `work(connection, ...)` on an autocommit connection: it sees committed data."""
        async with self.read_slots:
            return await greenlet_spawn(partial(self._read, work, *args, **kwargs))

    async def write(
        self, work: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `work(session, ...)`; it commits what it means to keep, the rest is rolled back."""
        async with self.write_slots:
            return await greenlet_spawn(partial(self._write, work, *args, **kwargs))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        for engine in self.engines:
            await engine.dispose()

    def _read(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.connect_for_read() as connection:
            return work(connection, *args, **kwargs)

    def _write(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.new_session() as session:
            return work(session, *args, **kwargs)


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
