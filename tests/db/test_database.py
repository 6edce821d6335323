"""Units of work on the real engines: what commits, what is undone, what is usable after."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import URL, Connection, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from alembic_stuff.db.database import Database
from tests.databases import insert_country_twice, settings_for


class WorkFailedError(Exception):
    """Raised by a unit of work after its first statement."""


@pytest.fixture
async def app_database(head_database: URL) -> AsyncIterator[Database]:
    """The app's Database on a migrated scratch database of the test's own, one connection each."""
    app_database = Database.connect(settings_for(head_database, database_pool_size=1))
    try:
        yield app_database
    finally:
        await app_database.dispose()


def insert_then(connection: Connection, code: str, fail: bool) -> None:
    connection.execute(
        text("INSERT INTO country VALUES (:code, 'Testland', 'TST', '999', NULL)"),
        {"code": code},
    )
    if fail:
        raise WorkFailedError


def codes(connection: Connection) -> list[str]:
    return list(connection.scalars(text("SELECT code FROM country ORDER BY code")))


async def test_a_transaction_commits_when_its_work_returns(app_database: Database) -> None:
    await app_database.transaction(insert_then, "AA", fail=False)
    assert await app_database.autocommit_read(codes) == ["AA"]


async def test_no_runner_half_applies_a_unit_of_work_whose_second_step_fails(
    app_database: Database,
) -> None:
    # A copier who adds a second statement to a write gets all or nothing whichever runner
    # the route uses: a transaction is undone whole, and the autocommit path refuses writes.
    for run in (app_database.transaction, app_database.autocommit_read):
        with pytest.raises((WorkFailedError, DBAPIError)):
            await run(insert_then, "AA", fail=True)
        assert await app_database.autocommit_read(codes) == [], run.__name__


async def test_the_autocommit_path_refuses_writes(app_database: Database) -> None:
    with pytest.raises(DBAPIError, match="read-only transaction"):
        await app_database.autocommit_read(insert_then, "AA", fail=False)


async def test_a_failed_statement_does_not_leave_the_connection_unusable(
    app_database: Database,
) -> None:
    def fail_inside(connection: Connection) -> None:
        connection.execute(text("SELECT 1 / 0"))

    for run in (app_database.transaction, app_database.autocommit_read):
        with pytest.raises(Exception, match="division by zero"):
            await run(fail_inside)
    # The pools hold one connection each: these reuse the very ones that failed.
    await app_database.transaction(insert_then, "BB", fail=False)
    assert await app_database.autocommit_read(codes) == ["BB"]


async def test_a_unit_of_work_cancelled_mid_statement_leaves_a_usable_pool(
    app_database: Database,
) -> None:
    # A request whose client went away, or that timed out, is cancelled while its statement
    # runs. The pool has one connection: the next unit of work must get a working one, not
    # one still busy with, or answering, the abandoned statement.
    def sleep(connection: Connection) -> None:
        connection.execute(text("SELECT pg_sleep(5)"))

    for run in (app_database.autocommit_read, app_database.transaction):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(run(sleep), timeout=0.3)
        # A bound, not a speed target: a connection left busy would hang here.
        assert await asyncio.wait_for(app_database.autocommit_read(codes), timeout=10) == []
        await asyncio.wait_for(app_database.transaction(insert_then, "CC", fail=False), timeout=10)
        assert await app_database.autocommit_read(codes) == ["CC"]
        await app_database.transaction(lambda c: c.execute(text("DELETE FROM country")))


async def test_an_async_unit_of_work_is_refused_with_a_reason(app_database: Database) -> None:
    async def written_async(connection: Connection) -> None:
        connection.execute(text("DELETE FROM country"))

    for run in (app_database.autocommit_read, app_database.transaction):
        with pytest.raises(TypeError, match="written_async is async: a unit of work is a plain"):
            _ = await run(written_async)  # mypy flags this too: an unused coroutine


async def test_an_error_names_the_statement_but_not_the_values_sent(app_database: Database) -> None:
    # Errors are logged with their message: the values came from a request's body.
    with pytest.raises(IntegrityError) as failure:
        await app_database.transaction(insert_country_twice, "a-name-from-a-request")
    assert "INSERT INTO country" in str(failure.value)
    assert "a-name-from-a-request" not in str(failure.value)
