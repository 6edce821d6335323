"""The probe that tells a silent server from a busy one (alembic_toolkit.silence)."""

import socket

from alembic_toolkit.silence import answers, server_address
from sqlalchemy import URL


def test_a_running_server_answers_the_probe(database: URL) -> None:
    assert database.host is not None
    assert answers(server_address(database.host, "", database.port or 5432))


def test_a_listener_that_never_answers_is_silent() -> None:
    # The kernel completes the connection, as for a frozen server; nothing reads or replies.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert not answers(server_address("127.0.0.1", "", silent.getsockname()[1]))


def test_nothing_listening_is_silent() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert not answers(server_address("127.0.0.1", "", port))
