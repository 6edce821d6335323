"""The ports the tests and the bench serve on: never one an outgoing connection can take first."""

import socket
from pathlib import Path

import pytest

from support import scratch


def test_ports_lie_outside_the_range_outgoing_connections_are_given() -> None:
    low, high = map(int, scratch.EPHEMERAL_RANGE.read_text().split())
    ports = [scratch.free_port() for _ in range(50)]
    assert not [port for port in ports if low <= port <= high]
    assert len(set(ports)) == len(ports), "a port handed out twice in a row"


@pytest.mark.parametrize(
    ("ephemeral", "expected"),
    [("32768\t60999", range(10000, 32768)), ("1024\t65000", range(65001, 65536))],
    ids=["linux-default", "widened-below"],
)
def test_the_range_is_the_larger_side_outside_the_ephemeral_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ephemeral: str, expected: range
) -> None:
    (tmp_path / "range").write_text(ephemeral)
    monkeypatch.setattr(scratch, "EPHEMERAL_RANGE", tmp_path / "range")
    assert scratch.outside_the_ephemeral_range() == expected


def test_a_port_something_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    free = scratch.free_port()  # below the ephemeral range: no other socket takes it meanwhile
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        monkeypatch.setattr(scratch, "_ports", iter([held.getsockname()[1], free]))
        assert scratch.free_port() == free
