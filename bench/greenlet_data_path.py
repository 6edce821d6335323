"""The data path before the app kept to documented APIs: one `greenlet_spawn` a unit of work.

Kept in bench/ only, as a measured alternative: `sqlalchemy.util.greenlet_spawn` is what
`AsyncSession.run_sync` is built on, but SQLAlchemy does not document it as public, so the app
does not import it. The bench serves the same app with this `Database` in place of the real
one and prints its figures beside.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI
from sqlalchemy import Connection
from sqlalchemy.util import greenlet_spawn

from alembic_stuff.api import app as api
from alembic_stuff.api.dependencies import get_database
from alembic_stuff.db.database import Database, UnitOfWork, checked
from alembic_stuff.settings import get_settings

T = TypeVar("T")


class GreenletDatabase(Database):
    """The app's `Database`, its units of work run in one `greenlet_spawn` on the sync engines."""

    async def transaction(self, work: UnitOfWork[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run `work(connection, ...)` in one transaction."""
        assert self.engines is not None  # noqa: S101 (connect() made it)
        async with self.transaction_slots:
            opener = self.engines.transactional.sync_engine.begin
            return await greenlet_spawn(_on, opener, work, args, kwargs)

    async def autocommit_read(self, work: UnitOfWork[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run `work(connection, ...)`, a single reading statement, in autocommit."""
        assert self.engines is not None  # noqa: S101 (connect() made it)
        async with self.read_slots:
            opener = self.engines.autocommit.sync_engine.connect
            return await greenlet_spawn(_on, opener, work, args, kwargs)


def _on(
    opener: Callable[[], AbstractContextManager[Connection]],
    work: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> T:
    with opener() as connection:
        return checked(work, work(connection, *args, **kwargs))


def create_app() -> FastAPI:
    """The app, its routes served from a `GreenletDatabase` (uvicorn --factory)."""
    # The settings the app itself reads, so that both are served alike.
    settings = get_settings()
    app = api.create_app(settings)
    database = GreenletDatabase.connect(settings)
    lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def with_greenlet_database(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            try:
                yield
            finally:
                await database.dispose()

    async def greenlet_database() -> Database:
        return database

    app.router.lifespan_context = with_greenlet_database
    app.dependency_overrides[get_database] = greenlet_database
    return app
