"""The app through a database restart, and input it must refuse without changing anything."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from alembic_stuff.db.embedded import EmbeddedPostgres
from alembic_stuff.db.migrations import upgrade_to_head
from tests.databases import serve, settings_for, throwaway_server


@pytest.fixture
def own_server() -> Iterator[EmbeddedPostgres]:
    """A server of the test's own, which it may stop and start."""
    server = throwaway_server()
    server.start()
    yield server
    server.destroy()


async def test_the_app_recovers_from_a_database_restart(own_server: EmbeddedPostgres) -> None:
    own_server.ensure_database("app")
    settings = settings_for(own_server.url("app"))
    upgrade_to_head(settings, configure_logging=False)

    async with serve(settings) as client:
        assert (await client.post("/country")).status_code == 201
        for _ in range(5):  # fill the pool with connections that the restart will kill
            assert (await client.get("/country/GB")).status_code == 200

        own_server.stop()
        down = await client.get("/country/GB")
        assert down.status_code == 503
        assert down.headers["retry-after"] == "2"
        own_server.start()

        statuses = [(await client.get("/country/GB")).status_code for _ in range(20)]
        assert statuses == [200] * 20
        assert (await client.get("/ready")).status_code == 200


async def test_an_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    huge = b'{"code": "FR", "common_name": "' + b"x" * 70_000 + b'"}'
    response = await client.post(
        "/country", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 65536 bytes."}
    assert (await client.get("/countries")).json()["items"] == []


async def test_an_oversized_chunked_body_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the size shows as it comes
        for _ in range(100):
            yield b"x" * 1000

    response = await client.post(
        "/country", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
