"""`start` and `serve` on a port another program listens on: one line, before anything starts."""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from alembic_stuff.cli import main
from alembic_stuff.settings import get_settings
from tests.databases import free_port


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize("command", ["start", "serve"])
def test_a_taken_port_is_one_line_and_nothing_starts(
    command: str, taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The embedded database, were it started, would make this folder.
    data = tmp_path / "embedded"
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("EMBEDDED_DATA_DIR", str(data))
    monkeypatch.setenv("EMBEDDED_PORT", str(free_port()))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, [command, "--port", str(taken_port)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: port {taken_port} on 127.0.0.1 is taken by another program: stop it, or "
        "choose another port with --port (or API_PORT)"
    ]
    assert not data.exists()
