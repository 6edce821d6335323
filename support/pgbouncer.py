"""PgBouncer in transaction mode in front of a test server, as production runs it.

Debian's `pgbouncer` binary, started on a free port with the project's own configuration
(deploy/pgbouncer/pgbouncer.ini), only its databases, address and authentication replaced:
every database of the server behind is reachable through it, and clients log in without a
password (the pooler logs in to the server with the one it is given).
"""

import configparser
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL

from support.scratch import free_port

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "deploy" / "pgbouncer" / "pgbouncer.ini"
START_SECONDS = 10.0
STOP_SECONDS = 5.0


@dataclass(frozen=True)
class Pooler:
    """A running PgBouncer: where it listens, and its log."""

    port: int
    log: Path

    def url(self, database: URL) -> URL:
        """`database`, a URL on the server behind, reached through the pooler instead."""
        return URL.create(
            database.drivername,
            username=database.username,
            host="127.0.0.1",
            port=self.port,
            database=database.database,
        )


@contextmanager
def pgbouncer(server: URL, folder: Path, **overrides: str) -> Iterator[Pooler]:
    """Run PgBouncer in front of `server` (an admin URL), its files in `folder`; stop it after.

    `overrides` replace settings of the [pgbouncer] section (default_pool_size="2").
    """
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).is_file():
        raise RuntimeError("pgbouncer is not installed: apt-get install pgbouncer")
    port = free_port()
    userlist = folder / "userlist.txt"
    userlist.write_text(f'"{server.username}" "{password(server)}"\n')
    userlist.chmod(0o600)
    ini = folder / "pgbouncer.ini"
    ini.write_text(configuration(server, port, userlist, overrides))
    log = folder / "pgbouncer.log"
    # PgBouncer refuses to run as root; it reads its files before it switches user.
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    with log.open("w") as output:
        process = subprocess.Popen(
            [binary, *user, str(ini)], stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_listening(port, process, log)
        yield Pooler(port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def configuration(server: URL, port: int, userlist: Path, overrides: dict[str, str]) -> str:
    """deploy/pgbouncer/pgbouncer.ini, pointed at `server` and listening on `port`."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    # configparser's documented way to keep key case; typeshed types it as a method.
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(CONFIGURATION)
    parser.remove_section("databases")
    parser.add_section("databases")
    parser["databases"]["*"] = f"host={server.host} port={server.port or 5432}"
    parser["pgbouncer"].update(
        {
            "listen_addr": "127.0.0.1",
            "listen_port": str(port),
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": str(userlist),
            **overrides,
        }
    )
    lines = []
    for section in parser.sections():
        lines.append(f"[{section}]")
        lines.extend(f"{name} = {value}" for name, value in parser[section].items())
    return "\n".join(lines) + "\n"


def password(server: URL) -> str:
    """The password of `server`'s user: in the URL, or in the password file it names."""
    if server.password is not None:
        return str(server.password)
    passfile = server.query.get("passfile")
    if not isinstance(passfile, str):
        return ""
    for line in Path(passfile).read_text().splitlines():
        *_, user, secret = _pgpass_fields(line)
        if user in (server.username, "*"):
            return secret
    return ""


def _pgpass_fields(line: str) -> list[str]:
    """The fields of a .pgpass line: colons separate them, a backslash escapes one."""
    fields: list[str] = []
    field, escaped = "", False
    for character in line:
        if escaped:
            field, escaped = field + character, False
        elif character == "\\":
            escaped = True
        elif character == ":":
            fields.append(field)
            field = ""
        else:
            field += character
    return [*fields, field]


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    raise RuntimeError(f"pgbouncer did not start on port {port}:\n{log.read_text()}")
