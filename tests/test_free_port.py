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
    with socket.socket() as held, socket.socket() as spare:
        held.bind(("127.0.0.1", 0))
        held.listen()
        spare.bind(("127.0.0.1", 0))
        taken, free = held.getsockname()[1], spare.getsockname()[1]
        spare.close()
        monkeypatch.setattr(scratch, "_ports", iter([taken, free]))
        assert scratch.free_port() == free
