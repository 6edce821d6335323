"""The app through a database restart, and input it must refuse without changing anything."""

from collections.abc import Iterator

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
