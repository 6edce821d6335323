"""The embedded server's lifecycle: start, reuse, adopt, recover, stop, and leave nothing behind."""

import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest

from alembic_stuff.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from tests.databases import processes_using, throwaway_server


@pytest.fixture(scope="module")
def initialized() -> Iterator[EmbeddedPostgres]:
    """One cluster for the module: initdb is the slow part, so it runs once."""
    server = throwaway_server()
    server.initialize()
    yield server
    server.destroy()


@pytest.fixture
def server(initialized: EmbeddedPostgres) -> Iterator[EmbeddedPostgres]:
    """The module's cluster, stopped before and after the test."""
    initialized.stop()
    yield initialized
    initialized.stop()


@pytest.fixture
def fresh() -> Iterator[EmbeddedPostgres]:
    """A cluster of the test's own, not yet initialised."""
    server = throwaway_server()
    yield server
    server.destroy()


def answers(server: EmbeddedPostgres) -> bool:
    try:
        with psycopg.connect(server.url().render_as_string(), connect_timeout=2) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def postmaster_pid(server: EmbeddedPostgres) -> int:
    return int((server.pgdata / "postmaster.pid").read_text().split()[0])


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_start_reuse_stop(server: EmbeddedPostgres) -> None:
    assert not server.is_running()
    assert server.start() is True
    assert answers(server)
    assert server.start() is False  # reused, not a second server
    assert (
        len([pid for pid in processes_using(server.pgdata) if pid == postmaster_pid(server)]) == 1
    )

    assert server.ensure_database("alembic-stuff") is True
    assert server.ensure_database("alembic-stuff") is False

    assert server.stop() is True
    assert not server.is_running()
    assert not answers(server)
    assert processes_using(server.pgdata) == []
    assert server.stop() is False


def test_data_survives_a_restart(server: EmbeddedPostgres) -> None:
    server.start()
    with psycopg.connect(server.url().render_as_string(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    server.stop()
    server.start()
    with psycopg.connect(server.url().render_as_string()) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (42,)


def test_destroy_leaves_nothing(fresh: EmbeddedPostgres) -> None:
    fresh.start()
    fresh.destroy()
    assert not fresh.data_dir.exists()
    assert processes_using(fresh.pgdata) == []


def test_a_killed_server_is_restarted_not_duplicated(server: EmbeddedPostgres) -> None:
    server.start()
    os.kill(postmaster_pid(server), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (server.is_running() or processes_using(server.pgdata)) and time.monotonic() < deadline:
        time.sleep(0.1)  # its children notice the postmaster's death and exit

    assert not server.is_running()
    assert server.start() is True
    assert answers(server)


def test_an_interrupted_initdb_is_redone(fresh: EmbeddedPostgres) -> None:
    staging = fresh.data_dir / "pgdata.initdb"
    staging.mkdir(parents=True)
    (staging / "half-written").write_text("left by a killed initdb")
    fresh.start()
    assert answers(fresh)
    assert not staging.exists()


def test_ownership_start_owned_and_release(server: EmbeddedPostgres) -> None:
    assert server.start_owned() is True
    assert server.release() is True
    assert not server.is_running()


def test_a_server_left_by_a_killed_owner_is_adopted(server: EmbeddedPostgres) -> None:
    server.start()
    (server.data_dir / "owner.pid").write_text(str(dead_pid()))
    assert server.start_owned() is True
    server.release()
    assert not server.is_running()


def test_a_server_started_by_db_up_is_reused_and_left_running(server: EmbeddedPostgres) -> None:
    assert server.start_unowned() is True
    assert server.start_owned() is False
    assert server.release() is False
    assert server.is_running()


def test_a_server_restarted_by_db_up_after_a_crash_is_left_running(
    server: EmbeddedPostgres,
) -> None:
    # The owner's server was killed, and `db-up` started it again: it is db-up's now.
    assert server.start_owned() is True
    os.kill(postmaster_pid(server), signal.SIGKILL)
    assert server.start_unowned() is True
    assert server.release() is False
    assert server.is_running()


def test_a_server_owned_by_a_live_process_is_refused_and_left_to_it(
    server: EmbeddedPostgres,
) -> None:
    # A second `start` beside the first: sharing would stop the server under one of them.
    server.start()
    with subprocess.Popen(["sleep", "30"]) as owner:
        try:
            (server.data_dir / "owner.pid").write_text(str(owner.pid))
            with pytest.raises(
                EmbeddedPostgresError, match=f"another `start`'s \\(pid {owner.pid}\\)"
            ):
                server.start_owned()
            assert server.release() is False
            assert server.is_running()
        finally:
            owner.kill()


def test_a_taken_port_is_a_clear_error(server: EmbeddedPostgres, fresh: EmbeddedPostgres) -> None:
    server.start()
    rival = EmbeddedPostgres(fresh.data_dir, server.port)
    with pytest.raises(EmbeddedPostgresError, match=f"^port {server.port} on 127.0.0.1 is taken"):
        rival.start()


def test_a_server_running_on_another_port_is_not_reused_silently(server: EmbeddedPostgres) -> None:
    server.start()
    elsewhere = EmbeddedPostgres(server.data_dir, server.port + 1)
    with pytest.raises(EmbeddedPostgresError, match=f"is running on port {server.port}, not"):
        elsewhere.start()


def test_concurrent_first_starts_of_one_cluster_start_one_server(fresh: EmbeddedPostgres) -> None:
    # The file lock makes them agree: one initialises and starts it, the others reuse it.
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from alembic_stuff.db.embedded import EmbeddedPostgres\n"
        "print(EmbeddedPostgres(Path(sys.argv[1]), int(sys.argv[2])).start())\n"
    )
    command = [sys.executable, "-c", script, str(fresh.data_dir), str(fresh.port)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    started = sorted(run.communicate(timeout=120)[0].strip() for run in runs)
    assert started == ["False", "False", "False", "True"]
    assert answers(fresh)


def test_concurrent_starts_create_the_database_once(server: EmbeddedPostgres) -> None:
    # Replicas started at once on a fresh folder each found the database missing; the
    # CREATE DATABASE that lost the race failed with a traceback.
    server.start()
    name = f"race_{os.getpid()}"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from alembic_stuff.db.embedded import EmbeddedPostgres\n"
        "server = EmbeddedPostgres(Path(sys.argv[1]), int(sys.argv[2]))\n"
        "print(server.ensure_database(sys.argv[3]))\n"
    )
    command = [sys.executable, "-c", script, str(server.data_dir), str(server.port), name]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(6)]
    created = sorted(run.communicate(timeout=120)[0].strip() for run in runs)
    assert [run.returncode for run in runs] == [0] * 6
    assert created == ["False"] * 5 + ["True"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the service user is only created as root")
def test_concurrent_first_starts_create_one_service_user() -> None:
    # Parallel test workers on a fresh machine each found the user missing and ran useradd:
    # each got a different uid, and the servers started as the overwritten ones failed.
    name = f"as_race_{os.getpid()}"
    script = (
        "from alembic_stuff.db import service_user\n"
        f"service_user.SERVICE_USER = {name!r}\n"
        "print(service_user.as_service_user()['user'])\n"
    )
    try:
        runs = [
            subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
            for _ in range(6)
        ]
        uids = {int(run.communicate(timeout=60)[0]) for run in runs}
        assert uids == {pwd.getpwnam(name).pw_uid}
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def test_a_frozen_server_is_left_running_in_bounded_time_with_one_line() -> None:
    server = replace(throwaway_server(), stop_timeout_seconds=1)
    server.start_owned()
    frozen = processes_using(server.pgdata)
    try:
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(EmbeddedPostgresError, match=r"did not stop within 2 s and is left"):
            server.release()
        assert time.monotonic() - started < 10  # two bounded waits, not pg_ctl's 60 s
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        server.destroy()
