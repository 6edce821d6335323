"""Request-scoped dependencies."""

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from alembic_stuff.db.session import Database


def get_database(request: Request) -> Database:
    """Return the app's database, created by its lifespan."""
    return cast(Database, request.app.state.database)


async def get_session(
    database: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    """Yield a session for one request; closing it rolls back whatever was not committed."""
    async with database.sessionmaker() as session:
        yield session


DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
