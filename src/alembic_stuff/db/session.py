"""The app's engines and session factory, created and disposed by the app's lifespan."""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from alembic_stuff.settings import Settings

# A pooled connection unused for longer than this is pinged before it is handed out.
IDLE_PING_AFTER_SECONDS = 1.0


@dataclass(frozen=True)
class Database:
    """An engine for writes (through sessions) and one for reads, each behind a fair queue."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_engine: AsyncEngine
    # SQLAlchemy's async pool lets a newcomer take a connection that was just returned ahead
    # of requests already waiting for one: under load a few wait for seconds. Waiting here
    # instead, first come first served, keeps the tail short.
    write_slots: asyncio.Semaphore
    read_slots: asyncio.Semaphore

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
            engine,
            async_sessionmaker(engine, expire_on_commit=False),
            read_engine,
            asyncio.Semaphore(settings.database_pool_size),
            asyncio.Semaphore(settings.database_pool_size),
        )

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        await self.read_engine.dispose()


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
