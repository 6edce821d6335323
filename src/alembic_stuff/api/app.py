"""The FastAPI application factory."""

import gc
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from alembic_stuff.api import countries, health
from alembic_stuff.api.errors import install_error_handlers
from alembic_stuff.api.heartbeat import Heartbeat
from alembic_stuff.api.limits import (
    DeadlineExceededError,
    RequestDeadline,
    finish_within,
)
from alembic_stuff.db.database import Database
from alembic_stuff.settings import Settings, get_settings

log = logging.getLogger(__name__)

# How long closing the pool's connections may take at shutdown.
SHUTDOWN_SECONDS = 2.0

DESCRIPTION = """
The alembic-stuff demonstration API: ISO 3166-1 countries in PostgreSQL, with a schema carried
in version control by Alembic. Try `POST /country` with no body, then `GET /country/GB`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; its lifespan opens the database and closes it on shutdown."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = Database.connect(settings)
        # /ready reads it: a replica whose entry may expire must leave the rotation.
        app.state.heartbeat = heartbeat = Heartbeat(
            app.state.database, settings.replica_heartbeat_seconds
        )
        try:
            # Registered before the first request: alembic-contract sees this release from now.
            await heartbeat.start()
            with _garbage_collector_tuned_for_serving():
                yield
        finally:
            # A hung database never answers the goodbye of a graceful close: shutting down
            # must not wait on it.
            try:
                await finish_within(SHUTDOWN_SECONDS, _shut_down(heartbeat, app.state.database))
            except DeadlineExceededError:
                log.warning("the database did not answer at shutdown; its connections are dropped")

    # /docs and /redoc with Swagger UI and ReDoc served by the app itself, not from a CDN:
    # they work offline and behind a firewall.
    # No slash redirects: Starlette builds their Location from the request's Host header, an
    # open redirect (GET /country/GB/ with Host: evil.example). A path is served as published.
    app = FastAPIOffline(
        title="alembic-stuff",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.add_middleware(RequestDeadline, seconds=settings.request_timeout_seconds)
    install_error_handlers(app)
    app.include_router(countries.router)
    app.include_router(health.router)
    return app


async def _shut_down(heartbeat: Heartbeat, database: Database) -> None:
    """Leave the registry of serving replicas, then close every pooled connection."""
    await heartbeat.stop()
    await database.dispose()


@contextmanager
def _garbage_collector_tuned_for_serving() -> Iterator[None]:
    """Keep the cyclic garbage collector out of the request path's tail latency.

    Everything alive once the app has started (modules, the app, the models, the engines)
    lives as long as the process: frozen, it is no longer scanned by every full collection.
    Collections of the youngest generation run every 700 allocations by default; a request
    allocates hundreds. Under load that made one request in a few hundred wait for a
    collection, and p99 jumped between runs (docs/benchmarks.md).
    """
    thresholds = gc.get_threshold()
    # No gc.collect() first: it would slow start-up, and the little start-up garbage
    # frozen with the rest goes back to the collector with gc.unfreeze() at shutdown.
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
