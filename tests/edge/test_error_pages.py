"""nginx's own errors, when the API is gone, frozen or flooded: JSON, with Retry-After."""

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import httpx

from support.nginx import Edge

# nginx's per-client limit on requests in progress (limit_conn in the template).
PER_CLIENT = 20
# Beyond the template's proxy_read_timeout (10 s).
PATIENCE_SECONDS = 20


def assert_json_with_retry_after(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "2"
    assert "try again shortly" in response.json()["detail"]


def one_over_the_limit(edge: Edge) -> httpx.Response:
    """The first request answered at once, once the others are in progress at nginx."""
    for _ in range(PATIENCE_SECONDS * 2):
        try:
            return httpx.get(f"{edge.url}/country/GB", timeout=0.5)
        except httpx.TimeoutException:  # not over it yet: this one waits like the others
            continue
    raise AssertionError("no request was refused")


def test_a_stopped_api_is_502_json_with_retry_after(own_front: Edge) -> None:
    own_front.api.terminate()
    own_front.api.wait(10)
    assert_json_with_retry_after(httpx.get(f"{own_front.url}/country/GB"), 502)


def test_a_frozen_api_is_504_and_a_client_over_its_limit_429(own_front: Edge) -> None:
    os.kill(own_front.api.pid, signal.SIGSTOP)
    try:
        with (
            httpx.Client(timeout=PATIENCE_SECONDS) as client,
            ThreadPoolExecutor(PER_CLIENT) as pool,
        ):
            waiting = [
                pool.submit(client.get, f"{own_front.url}/country/GB") for _ in range(PER_CLIENT)
            ]
            assert_json_with_retry_after(one_over_the_limit(own_front), 429)
            for request in waiting:
                assert_json_with_retry_after(request.result(PATIENCE_SECONDS), 504)
    finally:
        os.kill(own_front.api.pid, signal.SIGCONT)
