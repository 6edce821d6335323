"""The ports the tests and the bench serve on: never one an outgoing connection can take first."""

import socket

import pytest

from support import scratch


def test_ports_lie_below_the_range_outgoing_connections_are_given() -> None:
    ephemeral = int(scratch.EPHEMERAL_RANGE.read_text().split()[0])
    ports = [scratch.free_port() for _ in range(50)]
    assert all(scratch.LOWEST_PORT <= port < ephemeral for port in ports)
    assert len(set(ports)) == len(ports), "a port handed out twice in a row"


def test_a_port_something_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    free = scratch.free_port()  # below the ephemeral range: no other socket takes it meanwhile
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        monkeypatch.setattr(scratch, "_ports", iter([held.getsockname()[1], free]))
        assert scratch.free_port() == free
