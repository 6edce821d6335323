"""The API behind nginx, as deployed: the shipped template in front of `alembic-stuff serve`.

The tests attack the edge as production runs it. The template is rendered as the official
nginx image renders it (envsubst, with only the variables it is given substituted), read by
the shipped main configuration, and served by Debian's nginx in front of uvicorn serving the
app in its own process. Both are stopped afterwards, whatever happened.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL

from support.http import answers
from support.scratch import free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "nginx"
TEMPLATE = DEPLOY / "templates" / "default.conf.template"
MAIN_CONFIG = DEPLOY / "nginx.conf"
NGINX = Path("/usr/sbin/nginx")
# How long a process is given to start answering, or to stop before it is killed.
START_SECONDS = 30
STOP_SECONDS = 10
# Long enough for nginx to answer and close; bounds every read of `exchange`.
READ_SECONDS = 15

# Only for the scratch copy: nginx's temporary files in its own folder, not in Debian's
# /var/lib/nginx, which two copies running at once would share.
SCRATCH_PATHS = """\
client_body_temp_path {folder}/client_body;
proxy_temp_path {folder}/proxy;
fastcgi_temp_path {folder}/fastcgi;
uwsgi_temp_path {folder}/uwsgi;
scgi_temp_path {folder}/scgi;
"""


def render(template: str, variables: Mapping[str, str]) -> str:
    """Substitute `$NAME` and `${NAME}` for each NAME in `variables`, as envsubst does.

    The image passes envsubst the names of the variables that are defined: any other
    `$name`, nginx's own included, is left as it is.
    """
    if not variables:
        return template
    names = "|".join(re.escape(name) for name in variables)
    pattern = re.compile(rf"\$(?:\{{({names})\}}|({names})(?![A-Za-z0-9_]))")
    return pattern.sub(lambda found: variables[found.group(1) or found.group(2)], template)


def upstream_bound(configuration: str) -> int:
    """The connections with a request in progress nginx opens to the API at most (max_conns)."""
    found = re.search(r"^\s*server\s+\S+\s+max_conns=(\d+)", configuration, flags=re.MULTILINE)
    if found is None:
        raise ValueError("the upstream's server has no max_conns")
    return int(found.group(1))


def knows_directive(directive: str) -> bool:
    """True when this machine's nginx accepts `directive` (with its arguments) in a server."""
    if not NGINX.exists():
        return False
    with scratch_folder() as folder:
        (folder / "nginx.conf").write_text(
            f"events {{}}\nhttp {{ server {{ listen 127.0.0.1:1; {directive}; }} }}\n"
        )
        checked = subprocess.run(
            [str(NGINX), "-t", "-q", "-p", str(folder), "-c", str(folder / "nginx.conf")],
            capture_output=True,
            timeout=30,
            check=False,
        )
    return checked.returncode == 0


@dataclass(frozen=True)
class Edge:
    """nginx in front of the API: where each listens, and the processes serving them."""

    url: str
    api_url: str
    api: subprocess.Popen[bytes]
    nginx: subprocess.Popen[bytes]
    port: int


@contextmanager
def served_api(database: URL, **environment: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Serve the API as `alembic-stuff serve` does, in its own process; yield its URL and it."""
    port = free_port()
    variables = {
        **os.environ,
        "DATABASE_URL": database.render_as_string(hide_password=False),
        **environment,
    }
    command = [sys.executable, "-m", "alembic_stuff", "serve", "--port", str(port)]
    # In a session of its own: a test that pauses it (SIGSTOP) pauses nothing else.
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=variables,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as api:
        try:
            url = f"http://127.0.0.1:{port}"
            if not answers(f"{url}/health", api, seconds=START_SECONDS):
                raise RuntimeError("the API did not start")
            yield url, api
        finally:
            stop(api)


def configure(folder: Path, api_url: str, port: int) -> list[str]:
    """Write the shipped configuration into `folder`, rendered for `api_url` and `port`.

    Returns the command that runs nginx with it, in the foreground.
    """
    (folder / "conf.d").mkdir()
    shutil.copy(MAIN_CONFIG, folder / "nginx.conf")
    variables = {"API_UPSTREAM": api_url.removeprefix("http://"), "PROXY_PORT": str(port)}
    (folder / "conf.d" / "default.conf").write_text(render(TEMPLATE.read_text(), variables))
    (folder / "conf.d" / "scratch-paths.conf").write_text(SCRATCH_PATHS.format(folder=folder))
    return [
        str(NGINX),
        *("-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", "stderr"),
        *("-g", f"daemon off; pid {folder / 'nginx.pid'};"),
    ]


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """A folder for one nginx's configuration and files, deleted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="alembic-stuff-nginx-"))
    # nginx's workers run as nobody when the tests run as root: they must reach the folder.
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def nginx_in_front(api_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes], int]]:
    """Run nginx with the shipped configuration in front of `api_url`; yield its URL."""
    if not NGINX.exists():
        raise RuntimeError(f"{NGINX} is missing: install Debian's nginx (apt-get install nginx)")
    port = free_port()
    with scratch_folder() as folder, (folder / "error.log").open("wb") as errors:
        command = configure(folder, api_url, port)
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors) as nginx:
            try:
                url = f"http://127.0.0.1:{port}"
                if not answers(f"{url}/health", nginx, seconds=START_SECONDS):
                    log = (folder / "error.log").read_text()
                    raise RuntimeError(f"nginx did not start: {log}")
                yield url, nginx, port
            finally:
                stop(nginx)


@contextmanager
def edge(database: URL, **environment: str) -> Iterator[Edge]:
    """The API on `database` (settings in `environment`), behind nginx; both stopped after."""
    with served_api(database, **environment) as (api_url, api), nginx_in_front(api_url) as front:
        url, nginx, port = front
        yield Edge(url=url, api_url=api_url, api=api, nginx=nginx, port=port)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop `process` (SIGTERM, then SIGKILL after STOP_SECONDS); continue it if paused."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGCONT)
    process.terminate()
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def exchange(edge: Edge, request: bytes) -> bytes:
    """Send `request` (raw bytes) to nginx on a new connection; read the answer until closed."""
    with socket.create_connection(("127.0.0.1", edge.port), timeout=READ_SECONDS) as connection:
        # Refused before it has all been sent, the answer may be waiting all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(request)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received
