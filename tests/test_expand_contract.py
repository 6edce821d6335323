"""`alembic-expand` and `alembic-contract` on a release that expands, then contracts."""

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from alembic_toolkit.compatibility import SchemaRelease
from alembic_toolkit.project import release_module_path
from alembic_toolkit.release_module import release_of
from sqlalchemy import URL, text

from alembic_stuff.db.migrations import alembic_config
from tests.databases import (
    ROOT,
    copy_migration_environment,
    database_environment,
    registered_replica,
    run_toolkit,
    sync_engine,
    unused_column,
)

EXPAND_ID, CONTRACT_ID = "e0e0e0e0e0e1", "c0c0c0c0c0c1"


def project_release_module() -> Path:
    """The project's schema_release.py, as alembic.ini names it."""
    path = release_module_path(alembic_config())
    assert path is not None
    return path


def revision(
    project: Path, name: str, down: str, depends: str | None, body: str, extra: str
) -> None:
    (project / "alembic" / "versions" / f"2099_01_01_0000-{name}_next.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {name!r}\ndown_revision = {down!r}\n"
        f"branch_labels = None\ndepends_on = {depends!r}\n{extra}\n\n"
        f"def upgrade() -> None:\n    {body}\n\n\ndef downgrade() -> None:\n    pass\n"
    )


def rows(database: URL) -> list[str]:
    with sync_engine(database) as engine, engine.connect() as connection:
        if connection.scalar(text("SELECT to_regclass('alembic_version')")) is None:
            return []
        return sorted(connection.scalars(text("SELECT version_num FROM alembic_version")))


def test_contract_waits_for_its_expand_and_for_older_replicas(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: URL
) -> None:
    project = copy_migration_environment(tmp_path)
    old_release = release_of(ScriptDirectory.from_config(alembic_config()))
    revision(
        project,
        EXPAND_ID,
        old_release.expand_head,
        None,
        f'op.add_column("country", sa.Column("{unused_column("capital")}", sa.String(100)))',
        "",
    )
    revision(
        project,
        CONTRACT_ID,
        old_release.contract_head,
        EXPAND_ID,
        'op.drop_column("country", "official_name")',
        'destroys_data = {"upgrade: drop_column country.official_name": "release N+1 reads none"}',
    )
    new_release = release_of(
        ScriptDirectory.from_config(alembic_config(ini_path=project / "alembic.ini"))
    )
    monkeypatch.chdir(project)
    database_environment(monkeypatch, database)

    early = run_toolkit(["contract"])
    assert early.exit_code == 1
    [line] = early.output.strip().splitlines()
    assert f"{CONTRACT_ID} needs {EXPAND_ID}" in line
    assert "pipenv run alembic-expand" in line
    assert rows(database) == []  # nothing applied, not even the expand it would have pulled in

    expanded = run_toolkit(["expand"])
    assert expanded.exit_code == 0, expanded.output
    assert rows(database) == [EXPAND_ID]

    # Both releases serve, idle: registered, with no connection open.
    with registered_replica(database, new_release):
        with registered_replica(database, old_release) as old:
            refused = run_toolkit(["contract"])
            assert refused.exit_code == 1
            [line] = refused.output.strip().splitlines()
            assert "a replica of an older release still serves" in line
            assert f"pid {old.pid} on {old.host}" in line
            assert "and 1 other" not in line  # the new release survives its own contract
            assert f"does not survive contract revision {CONTRACT_ID}" in line
            assert "--force" in line
            assert "--skip-guard" not in line
            assert CONTRACT_ID not in rows(database)
            # alembic-latest would contract too: the same refusal, not a way around it.
            for command in (["upgrade"], ["upgrade", "--skip-guard"]):
                latest = run_toolkit(command)
                assert latest.exit_code == 1
                [line] = latest.output.strip().splitlines()
                assert "a replica of an older release still serves" in line
                assert "`pipenv run alembic-expand` applies only the additive part" in line
                assert CONTRACT_ID not in rows(database)
        # The old release is gone; the new one serves on.
        contracted = run_toolkit(["contract"])
        assert contracted.exit_code == 0, contracted.output
        assert rows(database) == [CONTRACT_ID]  # it stands for its expand too


def test_contract_before_the_trunk_names_the_trunk_revisions_as_such(
    monkeypatch: pytest.MonkeyPatch, database: URL
) -> None:
    database_environment(monkeypatch, database)
    script = ScriptDirectory.from_config(alembic_config())
    branches = {"expand", "contract"}
    trunk = [r.revision for r in script.walk_revisions() if not r.branch_labels & branches]
    expand = [r.revision for r in script.walk_revisions() if "expand" in r.branch_labels]
    assert trunk, "the history has no trunk: this test proves nothing"

    refused = run_toolkit(["contract"])
    assert refused.exit_code == 1
    [line] = refused.output.strip().splitlines()
    assert f"trunk revisions, on neither branch: {', '.join(reversed(trunk))}" in line
    # The contract root depends on no expand revision: none is named, nor called one.
    assert "expand revisions" not in line
    assert not any(revision in line for revision in expand)
    assert rows(database) == []


def expanded_with_a_contract_pending(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: URL
) -> SchemaRelease:
    """The project's release serving, expanded, and a contract revision it does not survive
    pending; run from a copy of the migration environment. Returns the serving release.

    Not the contract root: an expand applies that too once an expand revision depends on it,
    as after README's first schema change.
    """
    project = copy_migration_environment(tmp_path)
    older = release_of(ScriptDirectory.from_config(alembic_config()))
    revision(project, CONTRACT_ID, older.contract_head, older.expand_head, "pass", "")
    monkeypatch.chdir(project)
    database_environment(monkeypatch, database)
    assert run_toolkit(["expand"]).exit_code == 0
    return older


def test_force_contracts_while_an_older_replica_serves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: URL
) -> None:
    older = expanded_with_a_contract_pending(monkeypatch, tmp_path, database)
    with registered_replica(database, older) as replica:
        refused = run_toolkit(["contract"])
        assert refused.exit_code == 1, refused.output
        assert f"pid {replica.pid} on {replica.host}" in refused.output
        assert CONTRACT_ID not in rows(database)
        forced = run_toolkit(["contract", "--force"])
        assert forced.exit_code == 0, forced.output
    assert rows(database) == [CONTRACT_ID]  # it stands for the expand head too


def test_a_stale_schema_release_fails_the_check_until_rewritten(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = copy_migration_environment(tmp_path)
    module = project / project_release_module().relative_to(ROOT)
    module.parent.mkdir(parents=True)
    module.write_text(project_release_module().read_text())
    release = release_of(ScriptDirectory.from_config(alembic_config()))
    revision(
        project,
        EXPAND_ID,
        release.expand_head,
        None,
        'op.add_column("country", sa.Column("capital", sa.String(100)))',
        "",
    )
    monkeypatch.chdir(project)

    stale = run_toolkit(["guard"])
    assert stale.exit_code == 1
    assert "does not match the revisions: run `pipenv run migrations-release`" in stale.output

    assert run_toolkit(["release"]).exit_code == 0
    assert f'expand_head="{EXPAND_ID}"' in module.read_text()
    assert run_toolkit(["guard"]).exit_code == 0


# alembic_version as docker/initdb/10-app-role.sql creates it.
VERSION_TABLE = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


def registry_aged(database: URL) -> None:
    """Make the registry as old as one that every replica serving has had time to join."""
    with sync_engine(database) as engine, engine.begin() as connection:
        connection.execute(
            text("UPDATE zerodowntime.registry SET created_at = now() - interval '1 hour'")
        )


def without_toolkit_objects(database: URL) -> None:
    """Make `database` one migrated before the registry of serving replicas existed."""
    with sync_engine(database) as engine, engine.begin() as connection:
        connection.execute(text("DROP SCHEMA zerodowntime CASCADE"))


def test_a_contract_waits_for_replicas_to_join_a_registry_new_to_a_migrated_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: URL
) -> None:
    expanded_with_a_contract_pending(monkeypatch, tmp_path, database)
    without_toolkit_objects(database)

    # As a deploy does: the expand (nothing to apply) creates the registry, then straight on to
    # the contract, while a replica that has served all along has yet to register.
    assert run_toolkit(["expand"]).exit_code == 0
    for command in (["contract"], ["upgrade"]):
        refused = run_toolkit(command)
        assert refused.exit_code == 1, refused.output
        [line] = refused.output.strip().splitlines()
        assert "the registry of serving replicas was created on a database migrated" in line
        assert "s (the time replicas need to register)" in line
        assert "--force" in line
        assert CONTRACT_ID not in rows(database)

    # A contract first: refused too, and the registry exists from then, so the wait ends.
    without_toolkit_objects(database)
    refused = run_toolkit(["contract"])
    assert refused.exit_code == 1, refused.output
    assert "the registry of serving replicas is created now" in refused.output
    assert CONTRACT_ID not in rows(database)
    registry_aged(database)
    contracted = run_toolkit(["contract"])
    assert contracted.exit_code == 0, contracted.output
    assert rows(database) == [CONTRACT_ID]


def test_a_new_database_whose_set_up_made_an_empty_version_table_never_waits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: URL
) -> None:
    # As the roles' script sets a database up (docker/initdb, `start`): alembic_version is
    # there before any migration, empty. No release has served from it: a first install's
    # expand and contract run back to back.
    monkeypatch.chdir(copy_migration_environment(tmp_path))
    database_environment(monkeypatch, database)
    with sync_engine(database) as engine, engine.begin() as connection:
        connection.execute(text(VERSION_TABLE))
    assert run_toolkit(["expand"]).exit_code == 0
    contracted = run_toolkit(["contract"])
    assert contracted.exit_code == 0, contracted.output


def test_an_expand_that_applies_a_contract_an_older_replica_does_not_survive_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: URL
) -> None:
    project = copy_migration_environment(tmp_path)
    older = release_of(ScriptDirectory.from_config(alembic_config()))
    monkeypatch.chdir(project)
    database_environment(monkeypatch, database)
    assert run_toolkit(["expand"]).exit_code == 0
    # The next release's expand builds on its contract (`depends_on`), as the generator
    # writes it: the expand applies that contract revision too.
    revision(project, CONTRACT_ID, older.contract_head, older.expand_head, "pass", "")
    revision(project, EXPAND_ID, older.expand_head, CONTRACT_ID, "pass", "")
    with registered_replica(database, older) as replica:
        for command in (["expand"], ["upgrade"]):
            refused = run_toolkit(command)
            assert refused.exit_code == 1, refused.output
            [line] = refused.output.strip().splitlines()
            assert f"the expand depends on contract revision {CONTRACT_ID}" in line
            assert f"pid {replica.pid} on {replica.host}" in line
            assert "take it out of service first" in line
            assert "--force" in line
            # Not the command that refused as the way out.
            assert "alembic-expand" not in line
            assert CONTRACT_ID not in rows(database)
