"""Test support: scratch databases (on TEST_DATABASE_URL or a throwaway embedded server),
and scratch copies of the migration environment to generate revisions in."""

import io
import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from itertools import chain, count
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest
from alembic import command
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic_toolkit import serving
from alembic_toolkit.autogen.hints import Hints
from alembic_toolkit.autogen.renames import rename_aware
from alembic_toolkit.cli import main as toolkit_main
from alembic_toolkit.compatibility import SchemaRelease
from pydantic import SecretStr
from sqlalchemy import URL, Connection, Engine, MetaData, create_engine, make_url
from sqlalchemy import text as sa_text

from alembic_stuff.api.app import create_app
from alembic_stuff.db.base import Base
from alembic_stuff.db.embedded import THROWAWAY_SETTINGS, EmbeddedPostgres
from alembic_stuff.db.migrations import alembic_config, upgrade_to_head
from alembic_stuff.models import Country
from alembic_stuff.settings import Settings, get_settings
from support import scratch
from support.http import answers
from support.scratch import free_port as free_port  # re-exported: the tests import it here

ROOT = Path(__file__).resolve().parent.parent
# A RAM disk smaller than this (a container's 64 MiB /dev/shm) is left alone: each cluster
# takes some 40 MiB, each scratch database a few more, and PostgreSQL's own shared memory
# lives there too.
RAM_DISK = Path("/dev/shm")  # noqa: S108 - used only through a folder checked to be ours
RAM_DISK_ROOM = 2 * 1024**3


def _scratch_dir() -> Path:
    """Where the throwaway clusters go: a RAM disk when there is one with room, else .data/.

    A cluster is a thousand small files, and every CREATE DATABASE writes hundreds more: on
    a disk that is file-system work the tests do not need (their clusters run with fsync
    off and are deleted afterwards). Either place is reachable by the server's own user when
    the tests run as root: /dev/shm is world-traversable, and .data/ is inside the project
    (git-ignored).
    """
    in_project = ROOT / ".data" / "tests"
    if not RAM_DISK.is_dir() or shutil.disk_usage(RAM_DISK).free < RAM_DISK_ROOM:
        return in_project
    folder = RAM_DISK / f"alembic_stuff_tests_{os.getuid()}"
    folder.mkdir(mode=0o755, exist_ok=True)
    found = folder.lstat()
    # Anyone may create names in /dev/shm: a folder (or link) someone else made is not used.
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        return in_project
    return folder


SCRATCH_DIR = _scratch_dir()
# Histories broken on purpose: each migration check must fail on the one broken for it. Each
# is one or more folders of revisions; five build on the same first country table.
HISTORIES = ROOT / "tests" / "db" / "histories"
HISTORY_FOLDERS = {
    "two_heads": ("first_country", "two_heads"),
    "no_downgrade": ("no_downgrade",),
    "drift": ("first_country",),
    "misnamed": ("first_country", "misnamed"),
    "loses_data": ("first_country", "loses_data"),
    "depends_on": ("first_country", "depends_on"),
}
SCRATCH_PREFIX = "alembic_stuff_test_"


def processes_using(data_dir: Path) -> list[int]:
    """The pids of live processes whose command line names `data_dir`."""
    return [
        process.pid
        for process in psutil.process_iter(["cmdline", "status"])
        if process.info["status"] != psutil.STATUS_ZOMBIE
        and str(data_dir) in " ".join(process.info["cmdline"] or ())
    ]


def broken_history(config: Config, history: str) -> Config:
    """`config` with its revisions replaced by the broken history `history`'s folders."""
    folders = (str(HISTORIES / folder) for folder in HISTORY_FOLDERS[history])
    # alembic.ini's path_separator is "os": several version locations are joined by os.pathsep.
    config.set_main_option("version_locations", os.pathsep.join(folders))
    return config


# For a cluster its test crashes (an immediate stop, a SIGKILL) and then reads again: a commit
# is acknowledged only once it is in the WAL, or a row committed just before the crash can be
# gone after it. fsync stays off: the operating system, whose page cache outlives the server's
# crash, does not crash here.
CRASH_SAFE_SETTINGS = ("fsync=off", "synchronous_commit=on", "full_page_writes=off")


def throwaway_server(settings: Sequence[str] = THROWAWAY_SETTINGS) -> EmbeddedPostgres:
    """Return a new embedded cluster in its own folder, on a free port (not yet started)."""
    return EmbeddedPostgres(
        SCRATCH_DIR / uuid.uuid4().hex[:12], free_port(), extra_settings=settings
    )


@contextmanager
def server_for_tests() -> Iterator[URL]:
    """Yield an admin URL of a server the tests may create databases on."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield make_url(external).set(drivername="postgresql")
        return
    server = throwaway_server()
    try:
        server.start()
        yield server.url()
    finally:
        server.destroy()


@contextmanager
def scratch_database(server: URL, template: str | None = None) -> Iterator[URL]:
    """Create a database with a unique name, empty or a copy of `template`; drop it afterwards.

    The drop goes ahead whatever connections are left on it.
    """
    with scratch.scratch_database(server, SCRATCH_PREFIX, template) as url:
        yield url


@contextmanager
def heads_template(server: URL) -> Iterator[str]:
    """A database upgraded to the project's heads, closed to connections; yield its name.

    Databases at the heads are copies of it (`scratch_database(server, template=...)`), so
    the migrations run once per test session rather than once per test.
    """

    def upgrade(database: URL) -> None:
        # Alembic's connection is closed when the upgrade returns (alembic/env.py's engine
        # has no pool): the database can be copied.
        upgrade_to_head(settings_for(database), configure_logging=False)

    with scratch.template_database(server, SCRATCH_PREFIX, upgrade) as name:
        yield name


# A trigger the app knows nothing of fails when a name is set to 'Fault': a fault of the
# server's, the same for any client, and one no SQLSTATE class of the map calls "not now"
# (XX000, internal_error).
BROKEN_TRIGGER = """
CREATE FUNCTION refuse_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a trigger the app does not know of failed' USING ERRCODE = 'XX000';
END $$;
CREATE TRIGGER broken BEFORE UPDATE ON country FOR EACH ROW
    WHEN (NEW.common_name = 'Fault') EXECUTE FUNCTION refuse_fault();
"""


def run_sql_script(database: URL, sql: str) -> None:
    """Run `sql`, as `alembic upgrade --sql` writes it (its own BEGIN and COMMIT), as psql would."""
    with psycopg.connect(database.render_as_string(hide_password=False), autocommit=True) as c:
        # No parameters: psycopg sends the script as one simple query, statements and all.
        c.execute(sql.encode())


def revision_id(slug: str) -> str:
    """The id of the project's revision whose file name ends in `slug` (its message).

    Tests of a particular revision find it this way, so a copier's next revision, with an id
    of its own, breaks none of them.
    """
    script = ScriptDirectory.from_config(alembic_config())
    [revision] = [
        r.revision for r in script.walk_revisions() if Path(r.path).stem.endswith(f"_{slug}")
    ]
    return revision


def project_revisions() -> list[str]:
    """The project's revision ids, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]


def unused_column(stem: str, table: str = Country.__tablename__) -> str:
    """A name the project's model gives no column of `table`: `stem`, else `stem_2`, `stem_3`...

    For the column a test adds of its own: the model may have one of that name already, as
    after README.md's first schema change (country.capital) or a copier's own.
    """
    taken = {column.name for column in Base.metadata.tables[table].columns}
    numbered = (f"{stem}_{n}" for n in count(2))
    return next(name for name in chain([stem], numbered) if name not in taken)


def settings_for(database: URL, **overrides: Any) -> Settings:
    """Return settings that point at `database` and ignore any .env file."""
    url = SecretStr(database.render_as_string(hide_password=False))
    return Settings(_env_file=None, database_url=url, **overrides)


@contextmanager
def sync_engine(database: URL) -> Iterator[Engine]:
    """A synchronous engine (psycopg, as the migrations use) on `database`, disposed after."""
    engine = create_engine(settings_for(database).migration_url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def registered_replica(
    database: URL, release: SchemaRelease, ttl_seconds: float = 60.0
) -> Iterator[serving.Replica]:
    """A replica of `release` in the registry, as a serving app writes it, holding no connection."""
    replica = serving.Replica("alembic-stuff", release)
    with sync_engine(database) as engine:
        with engine.begin() as connection:
            serving.heartbeat(connection, replica, ttl_seconds)
        try:
            yield replica
        finally:
            with engine.begin() as connection:
                serving.leave(connection, replica)


@contextmanager
def migration_operations(connection: Connection) -> Iterator[MigrationContext]:
    """Run the block as a revision's upgrade() would: `alembic.op` on `connection`.

    For helpers meant to be called from revisions. The block runs in a transaction, committed
    when it ends.
    """
    context = MigrationContext.configure(connection)
    with Operations.context(context), context.begin_transaction():
        yield context


# Where generated revisions go: the expand branch, as `alembic-revision` writes by default.
ONTO = "expand@head"


@dataclass(frozen=True)
class Scratch:
    """A scratch copy of the project's migration environment, generating against `database`."""

    folder: Path
    database: URL

    def config(self, model: MetaData) -> Config:
        """An Alembic config comparing against `model`."""
        config = alembic_config(
            settings_for(self.database),
            ini_path=self.folder / "alembic.ini",
            configure_logging=False,
        )
        config.attributes["target_metadata"] = model
        return config

    def revise(self, model: MetaData, *x: str, message: str = "change") -> None:
        """Autogenerate a revision for `model` as the CLI does: rename-aware, `x` the hints."""
        command.revision(
            self.config(model),
            message,
            autogenerate=True,
            head=ONTO,
            process_revision_directives=rename_aware(Hints.parse(x), ask=None),
        )

    def generate(self, model: MetaData, *x: str) -> str:
        """Autogenerate one revision for `model`; return its source as the hooks left it."""
        before = set(self.revisions())
        self.revise(model, *x)
        [revision] = set(self.revisions()) - before
        return revision.read_text()

    def revisions(self) -> list[Path]:
        """Every revision file in the scratch copy."""
        return sorted((self.folder / "alembic" / "versions").glob("*.py"))

    def new_revisions(self) -> list[Path]:
        """The revisions written here, not the project's own."""
        known = {path.name for path in (ROOT / "alembic" / "versions").glob("*.py")}
        return [path for path in self.revisions() if path.name not in known]

    def upgrade(self, model: MetaData, revision: str = "heads") -> None:
        """Upgrade the database."""
        command.upgrade(self.config(model), revision)

    def downgrade(self, model: MetaData, revision: str = "expand@-1") -> None:
        """Downgrade the database."""
        command.downgrade(self.config(model), revision)

    def stamp(self, model: MetaData, revision: str) -> None:
        """Set the database's revision without running anything, as a kill mid-revision does."""
        command.stamp(self.config(model), revision)

    def check(self, model: MetaData) -> None:
        """Fail if autogenerate finds a difference between `model` and the database."""
        command.check(self.config(model))


def copy_migration_environment(destination: Path) -> Path:
    """Copy alembic.ini and its neighbours, and alembic/, to `destination` for added revisions.

    Commands started in the copy find its alembic.ini first, so they run its revisions; ruff
    formats new ones by pyproject.toml, and squawk reads .squawk.toml beside alembic.ini.
    """
    for name in ("alembic.ini", "pyproject.toml", ".squawk.toml"):
        shutil.copy(ROOT / name, destination / name)
    shutil.copytree(
        ROOT / "alembic", destination / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    return destination


def database_environment(monkeypatch: pytest.MonkeyPatch, database: URL) -> None:
    """Point the process's settings at `database`, and its API at a free port, for one test."""
    monkeypatch.setenv("DATABASE_URL", database.render_as_string(hide_password=False))
    # Not 8765: a developer's own `pipenv run start` may be serving there while tests run.
    monkeypatch.setenv("API_PORT", str(free_port()))
    get_settings.cache_clear()


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Run the real app (lifespan, engines, pool) against `settings` and yield a client.

    An exception the app does not handle comes back as the 500 a server would answer.
    """
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def server_processes(server: EmbeddedPostgres) -> list[int]:
    """The pids of a running server's postmaster and of every process it started."""
    postmaster = psutil.Process(int((server.pgdata / "postmaster.pid").read_text().split()[0]))
    return [postmaster.pid, *(child.pid for child in postmaster.children())]


@contextmanager
def served_api(
    database: URL,
    program: Sequence[str] = (sys.executable, "-m", "alembic_stuff"),
    cwd: Path = ROOT,
    **environment: str,
) -> Iterator[str]:
    """Serve the API as `alembic-stuff serve` does, in its own process; yield its base URL.

    `program` is the CLI to run (another install's `alembic-stuff`), started in `cwd`;
    `environment` adds settings (e.g. REPLICA_HEARTBEAT_SECONDS="1").
    """
    port = free_port()
    variables = {
        **os.environ,
        "DATABASE_URL": database.render_as_string(hide_password=False),
        **environment,
    }
    command = [*program, "serve", "--port", str(port)]
    with subprocess.Popen(command, cwd=cwd, env=variables, stderr=subprocess.DEVNULL) as server:
        try:
            base = f"http://127.0.0.1:{port}"
            if not answers(f"{base}/health", server, seconds=30):
                raise RuntimeError("the API did not start")
            yield base
        finally:
            server.terminate()


def insert_country_twice(connection: Connection, name: str) -> None:
    """A unit of work no use case has: the same country twice, a unique violation."""
    for _ in range(2):
        connection.execute(
            sa_text(
                "INSERT INTO country (code, alpha_3, numeric_code, common_name)"
                " VALUES ('ZZ', 'ZZZ', '999', :name)"
            ),
            {"name": name},
        )


@dataclass(frozen=True)
class Ran:
    """What a command run in this process printed, and how it ended."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Both streams, standard error first (its notes come before the result)."""
        return self.stderr + self.stdout


def run_toolkit(arguments: Sequence[str]) -> Ran:
    """Run `alembic-toolkit` in this process, as the Pipfile's migration scripts run it."""
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            toolkit_main(list(arguments))
        except SystemExit as exc:
            code = exc.code
    return Ran(code if isinstance(code, int) else 1, out.getvalue(), err.getvalue())
