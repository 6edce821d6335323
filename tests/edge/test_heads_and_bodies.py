"""Request heads and bodies over nginx's limits: refused with JSON, the API never sees them."""

import re
from collections.abc import Iterator

import httpx
import pytest

from support.nginx import Edge, exchange, knows_directive

EIGHT_MIB = 8 * 1024 * 1024
GET = b"GET /country/GB HTTP/1.1\r\nHost: x\r\n\r\n"
HUGE_HEAD = b"GET /country/GB HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * EIGHT_MIB + b"\r\n\r\n"
HEAD_TOO_LARGE = {"detail": "The request's headers are too large."}


def statuses(answer: bytes) -> list[int]:
    """The status of each response in `answer` (a body may end without a line break)."""
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3})", answer)]


def test_an_eight_mib_header_is_refused(front: Edge) -> None:
    answer = exchange(front, HUGE_HEAD)
    assert statuses(answer) == [431]
    assert b"Retry-After" not in answer


def test_an_eight_mib_header_pipelined_behind_a_get_is_refused_after_its_answer(
    front: Edge,
) -> None:
    answer = exchange(front, GET + HUGE_HEAD)
    assert statuses(answer) == [200, 431]
    assert b'"common_name":"United Kingdom"' in answer
    assert httpx.get(f"{front.url}/country/GB").status_code == 200


def test_a_header_line_over_8_kib_is_431_json(front: Edge) -> None:
    response = httpx.get(f"{front.url}/country/GB", headers={"x-big": "a" * 8192})
    assert response.status_code == 431
    assert response.json() == HEAD_TOO_LARGE


def test_many_small_headers_over_32_kib_are_431(front: Edge) -> None:
    headers = [(f"x-{number}", "a" * 10) for number in range(4000)]
    response = httpx.get(f"{front.url}/country/GB", headers=headers)
    assert response.status_code == 431
    assert response.json() == HEAD_TOO_LARGE


def test_a_head_is_bounded_by_how_its_lines_pack_into_four_buffers(front: Edge) -> None:
    # What docs/api.md says: no header line is split between two 8 KiB buffers.
    def get(count: int, size: int) -> int:
        headers = [(f"x-{number}", "a" * size) for number in range(count)]
        return httpx.get(f"{front.url}/country/GB", headers=headers).status_code

    assert get(4, 7000) == 200  # 28 KB, a line a buffer
    assert get(5, 4100) == 431  # 20 KB, but a line a buffer again, and one too many


@pytest.mark.skipif(not knows_directive("max_headers 1000"), reason="this nginx has no max_headers")
def test_more_than_1000_header_lines_are_431_however_short(front: Edge) -> None:
    def get(count: int) -> httpx.Response:
        headers = [(f"x-{number}", "a") for number in range(count)]
        return httpx.get(f"{front.url}/country/GB", headers=headers)

    # httpx adds Host, Accept, Accept-Encoding, Connection and User-Agent: 5 lines.
    assert get(995).status_code == 200
    refused = get(996)
    assert refused.status_code == 431
    assert refused.json() == HEAD_TOO_LARGE


def test_a_request_line_over_8_kib_is_414_json(front: Edge) -> None:
    response = httpx.get(f"{front.url}/country/{'G' * 9000}")
    assert response.status_code == 414
    assert response.json() == {"detail": "The request line is longer than 8192 bytes."}


def test_a_request_that_is_not_http_is_400_json(front: Edge) -> None:
    answer = exchange(front, b"BLAH\x00 / HTTP/1.1\r\n\r\n")
    assert statuses(answer) == [400]
    assert answer.endswith(b'{"detail": "The request is not valid HTTP."}\n')


def test_a_declared_body_over_64_kib_is_413_json_and_nothing_is_written(front: Edge) -> None:
    huge = b'{"code": "FR", "common_name": "' + b"x" * 70_000 + b'"}'
    response = httpx.post(
        f"{front.url}/country", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 65536 bytes."}
    assert httpx.get(f"{front.url}/country/FR").status_code == 404


def test_a_chunked_body_over_64_kib_is_413(front: Edge) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the size shows as it comes
        for _ in range(100):
            yield b"x" * 1000

    response = httpx.post(
        f"{front.url}/country", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert httpx.get(f"{front.url}/country/FR").status_code == 404
