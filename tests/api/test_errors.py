"""A real server fault (no domain error, no "not now" from the database) is a JSON 500 that
closes its connection, so that no proxy sends another request on a connection the server drops.
"""

from sqlalchemy import URL

from tests.databases import BROKEN_TRIGGER, run_sql_script, serve, settings_for


async def test_a_server_fault_is_a_json_500_that_closes_the_connection(
    head_database: URL,
) -> None:
    run_sql_script(head_database, BROKEN_TRIGGER)
    async with serve(settings_for(head_database)) as client:
        assert (await client.post("/country")).status_code == 201
        response = await client.patch("/country/GB", json={"common_name": "Fault"})
        assert response.status_code == 500
        assert response.headers["connection"] == "close"
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"detail": "Internal Server Error"}
        # Nothing else is affected: the next write is served.
        assert (await client.patch("/country/GB", json={"common_name": "UK"})).status_code == 200
