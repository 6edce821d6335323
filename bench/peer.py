"""The peer: the usual FastAPI + SQLAlchemy async ORM pattern, as most tutorials write it.

An AsyncSession per request through Depends, `session.get`, a pydantic response model, and
`session.commit()` after each write; a create that a concurrent one beat to its key (the
lookup found nothing, the INSERT conflicts) answers 409, as alembic-stuff does.
"""

import os
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

UNIQUE_VIOLATION = "23505"
engine = create_async_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1)
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class Country(Base):
    __tablename__ = "country"
    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    alpha_3: Mapped[str] = mapped_column(String(3))
    numeric_code: Mapped[str] = mapped_column(String(3))
    common_name: Mapped[str] = mapped_column(String(100))
    official_name: Mapped[str | None] = mapped_column(String(200))


class CountryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    alpha_3: str
    numeric_code: str
    common_name: str
    official_name: str | None


class CountryIn(CountryOut):
    pass


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]
app = FastAPI()


@app.get("/country/{code}", response_model=CountryOut)
async def get_country(code: str, session: Session) -> Country:
    country = await session.get(Country, code.upper())
    if country is None:
        raise HTTPException(404, "not found")
    return country


@app.get("/countries", response_model=dict[str, list[CountryOut] | None])
async def list_countries(session: Session, limit: int = 20) -> dict[str, object]:
    rows = (await session.scalars(select(Country).order_by(Country.code).limit(limit))).all()
    return {"items": list(rows), "next_after": None}


@app.post("/country", response_model=CountryOut, status_code=201)
async def create_country(data: CountryIn, session: Session) -> Country:
    if await session.get(Country, data.code) is not None:
        raise HTTPException(409, "exists")
    country = Country(**data.model_dump())
    session.add(country)
    try:
        await session.commit()
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        raise HTTPException(409, "exists") from None
    return country


@app.delete("/country/{code}", status_code=204)
async def delete_country(code: str, session: Session) -> Response:
    country = await session.get(Country, code)
    if country is None:
        raise HTTPException(404, "not found")
    await session.delete(country)
    await session.commit()
    return Response(status_code=204)
