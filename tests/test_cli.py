"""The `alembic-stuff` command: through click's runner, and `start` as a real process."""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from alembic_stuff.cli import main
from alembic_stuff.db.embedded import EmbeddedPostgres
from alembic_stuff.settings import get_settings
from tests.databases import ROOT, SCRATCH_DIR, free_port
from tests.db.test_embedded import processes_using


@pytest.fixture
def embedded_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedPostgres]:
    """Settings for an embedded database of the test's own, in the environment."""
    server = EmbeddedPostgres(SCRATCH_DIR / f"cli-{os.getpid()}-{free_port()}", free_port())
    # Empty, not unset: a developer's .env must not fill it in with their own database.
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("EMBEDDED_DATA_DIR", str(server.data_dir))
    monkeypatch.setenv("EMBEDDED_PORT", str(server.port))
    get_settings.cache_clear()
    yield server
    server.destroy()
    get_settings.cache_clear()


def test_db_up_and_down(embedded_env: EmbeddedPostgres) -> None:
    runner = CliRunner()
    up = runner.invoke(main, ["db", "up"])
    assert up.exit_code == 0, up.output
    assert (
        f"started: postgresql://postgres@127.0.0.1:{embedded_env.port}/alembic-stuff" in up.output
    )
    assert embedded_env.is_running()

    again = runner.invoke(main, ["db", "up"])
    assert "already running" in again.output

    down = runner.invoke(main, ["db", "down"])
    assert down.exit_code == 0
    assert "stopped" in down.output
    assert not embedded_env.is_running()
    assert embedded_env.is_initialized()  # the data is kept

    gone = runner.invoke(main, ["db", "down", "--volumes"])
    assert gone.exit_code == 0
    assert "was not running" in gone.output
    assert not embedded_env.data_dir.exists()


def test_db_commands_refuse_when_database_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@db.example/app")
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["db", "up"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: DATABASE_URL is set, so the embedded database is not in use; unset it to use this"
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "DATABASE_URL",
            "mysql://root@127.0.0.1/app",
            "DATABASE_URL: Value error, DATABASE_URL must be a postgresql:// URL",
        ),
        ("EMBEDDED_PORT", "99999", "EMBEDDED_PORT: Input should be less than or equal to 65535"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["db", "up"])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert message in result.output


def readme_walkthrough() -> list[list[str]]:
    """The curl commands of the README's walkthrough, split into arguments."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### The walkthrough", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return [shlex.split(line) for line in block.group(1).splitlines() if line.strip()]


def wait_for(url: str, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"start exited early:\n{process.communicate()[0]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {seconds} s")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_start_serves_the_readme_walkthrough_and_stops_cleanly(
    embedded_env: EmbeddedPostgres, stop_signal: signal.Signals
) -> None:
    api_port = free_port()
    environment = {**os.environ, "API_PORT": str(api_port)}
    with subprocess.Popen(
        [sys.executable, "-m", "alembic_stuff", "start"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            wait_for(f"http://127.0.0.1:{api_port}/ready", process)
            statuses = []
            for command in readme_walkthrough():
                assert command[0] == "curl"
                urls = [arg for arg in command if arg.startswith("http://127.0.0.1:8765/")]
                method = command[command.index("-X") + 1] if "-X" in command else "GET"
                url = urls[0].replace(":8765/", f":{api_port}/")
                statuses.append(httpx.request(method, url).status_code)
            assert statuses == [404, 201, 200]
        finally:
            process.send_signal(stop_signal)
            output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert "stopped" in output
    assert not embedded_env.is_running()
    assert processes_using(embedded_env.pgdata) == []


def test_alembic_sql_previews_a_range_with_no_database() -> None:
    result = CliRunner().invoke(main, ["migrations", "sql", "9c4d7e2f1b38:e1a8f3b6c5d2"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("SET lock_timeout = '10000ms';")
    assert "ALTER TABLE country RENAME name TO common_name;" in result.output


def test_alembic_sql_of_a_downgrade() -> None:
    result = CliRunner().invoke(
        main, ["migrations", "sql", "--downgrade", "e1a8f3b6c5d2:9c4d7e2f1b38"]
    )
    assert result.exit_code == 0, result.output
    assert "ALTER TABLE country RENAME common_name TO name;" in result.output


def test_alembic_sql_defaults_to_everything_when_the_database_is_unreachable() -> None:
    result = CliRunner().invoke(main, ["migrations", "sql"])
    assert result.exit_code == 0, result.output
    assert "the database is unreachable: showing base:head" in result.output
    assert "CREATE TABLE country" in result.output


def test_alembic_sql_refuses_an_unknown_revision() -> None:
    result = CliRunner().invoke(main, ["migrations", "sql", "base:nosuchrev"])
    assert result.exit_code == 1
    assert "nosuchrev" in result.output
