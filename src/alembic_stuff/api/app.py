"""The FastAPI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from alembic_stuff.api import countries, health
from alembic_stuff.api.errors import install_error_handlers
from alembic_stuff.api.limits import BodySizeLimit
from alembic_stuff.db.migrations import head_revision
from alembic_stuff.db.session import Database
from alembic_stuff.settings import Settings, get_settings

DESCRIPTION = """
The alembic-stuff demonstration API: ISO 3166-1 countries in PostgreSQL, with a schema carried
in version control by Alembic. Try `POST /country` with no body, then `GET /country/GB`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; its lifespan opens the database and closes it on shutdown."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.expected_revision = head_revision()
        app.state.database = Database.connect(settings)
        try:
            yield
        finally:
            await app.state.database.dispose()

    app = FastAPI(
        title="alembic-stuff", description=DESCRIPTION, version="0.1.0", lifespan=lifespan
    )
    app.add_middleware(BodySizeLimit)
    install_error_handlers(app)
    app.include_router(countries.router)
    app.include_router(health.router)
    return app
