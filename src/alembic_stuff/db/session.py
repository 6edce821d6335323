"""The app's async engine and session factory, created and disposed by the app's lifespan."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from alembic_stuff.settings import Settings


@dataclass(frozen=True)
class Database:
    """An engine and the session factory bound to it."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, settings: Settings) -> "Database":
        """Create the engine for `settings` (connections are opened lazily, on first use)."""
        engine = create_async_engine(
            settings.app_url,
            # A connection that died with a database restart is replaced before use, so a
            # restart costs no failed request.
            pool_pre_ping=True,
        )
        return cls(engine, async_sessionmaker(engine, expire_on_commit=False))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
