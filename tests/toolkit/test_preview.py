"""The SQL of one revision, and of what a database has pending, told apart from the rest.

Alembic's offline mode starts from one revision, so a range to a revision with two parents (a
merge, or a `depends_on`) also runs what the other parent implies, and so does a range from a
database at two heads. Generated histories (one root, then revisions on one earlier revision or
two, some depending on a third) run through the project's env.py, each revision creating a
table of its own: SQL written twice fails on real PostgreSQL, and SQL left out leaves a table
missing.
"""

import tempfile
from itertools import permutations
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic_toolkit.preview import InseparableSQLError, offline_sql, pending_sql, revision_sql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import URL, inspect

from alembic_stuff.db.migrations import alembic_config
from tests.databases import (
    copy_migration_environment,
    run_sql_script,
    scratch_database,
    settings_for,
    sync_engine,
)

History = list[tuple[str, tuple[str, ...], str | None]]
"""Revisions, oldest first: (id, down revisions, the revision it depends on or None)."""

REVISION = '''"""Revision {name}: its own table."""

import sqlalchemy as sa
from alembic import op

revision = {name!r}
down_revision = {down!r}
branch_labels = None
depends_on = {depends_on!r}


def upgrade() -> None:
    op.create_table("t_{name}", sa.Column("id", sa.BigInteger, primary_key=True))


def downgrade() -> None:
    op.drop_table("t_{name}")
'''

EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def histories(draw: st.DrawFn) -> History:
    """One root, then revisions on one or two earlier ones, some depending on another."""
    history: History = [("r00", (), None)]
    for index in range(1, draw(st.integers(min_value=2, max_value=7))):
        earlier = [name for name, _, _ in history]
        downs = tuple(draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=2, unique=True)))
        # At most two parents in all: with three, the SQL may not be separable (see below).
        depends_on = None if len(downs) > 1 else draw(st.none() | st.sampled_from(earlier))
        history.append((f"r{index:02d}", downs, None if depends_on in downs else depends_on))
    return history


def written(folder: Path, history: History, database: URL) -> Config:
    """The project's migration environment in `folder`, holding `history` alone."""
    project = copy_migration_environment(folder)
    versions = project / "alembic" / "versions"
    for path in versions.glob("*.py"):
        path.unlink()
    for name, downs, depends_on in history:
        down = None if not downs else downs[0] if len(downs) == 1 else downs
        source = REVISION.format(name=name, down=down, depends_on=depends_on)
        (versions / f"{name}.py").write_text(source)
    return alembic_config(
        settings_for(database), ini_path=project / "alembic.ini", configure_logging=False
    )


def tables(database: URL) -> set[str]:
    with sync_engine(database) as engine:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}


def every_table(history: History) -> set[str]:
    return {f"t_{name}" for name, _, _ in history}


def implied(script: ScriptDirectory, revisions: tuple[str, ...]) -> set[str]:
    return {r.revision for each in revisions for r in script.iterate_revisions(each, "base")}


def current_heads(database: URL) -> tuple[str, ...]:
    with sync_engine(database) as engine, engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_heads()


@EXAMPLES
@given(history=histories())
def test_each_revisions_sql_runs_it_alone(server_url: URL, history: History) -> None:
    with tempfile.TemporaryDirectory() as folder, scratch_database(server_url) as database:
        config = written(Path(folder), history, database)
        script = ScriptDirectory.from_config(config)
        # Oldest first, each after its parents and what it depends on.
        for found in reversed(list(script.walk_revisions("base", "heads"))):
            run_sql_script(database, revision_sql(config, found.revision))
        assert tables(database) == every_table(history)


@EXAMPLES
@given(history=histories(), data=st.data())
def test_the_pending_sql_runs_what_the_database_lacks_once(
    server_url: URL, history: History, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as folder, scratch_database(server_url) as database:
        config = written(Path(folder), history, database)
        script = ScriptDirectory.from_config(config)
        names = [name for name, _, _ in history]
        chosen = data.draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
        applied = implied(script, tuple(chosen))
        # Applied online, one revision at a time, as releases would have applied them.
        for name in names:
            if name in applied:
                command.upgrade(config, name)
        current = current_heads(database)
        assert implied(script, current) == applied
        try:
            sql = pending_sql(config, current)
        except InseparableSQLError:
            # Offline mode starts from one revision; from one of two heads, the part the other
            # implies is cut off when Alembic writes it first. Refused only where it writes it
            # after some of the pending SQL from either head (sibling branches come in no
            # set order), or at three or more heads.
            assert len(current) > 2 or not any(
                offline_sql(config, f"{start}:heads").startswith(
                    offline_sql(config, f"{start}:{other}")
                )
                for start, other in permutations(current)
            ), current
            return
        run_sql_script(database, sql)
        assert tables(database) == every_table(history)
        assert implied(script, current_heads(database)) == set(names)


def test_a_revision_with_three_unrelated_parents_is_refused_in_one_line(tmp_path: Path) -> None:
    # Offline, nothing runs on the database: the URL is never used.
    nowhere = URL.create("postgresql", host="127.0.0.1", port=1, database="none")
    history: History = [
        ("r00", (), None),
        ("r01", ("r00",), None),
        ("r02", ("r00",), None),
        ("r03", ("r00",), None),
        ("r04", ("r01", "r02"), "r03"),
    ]
    config = written(tmp_path, history, nowhere)
    with pytest.raises(InseparableSQLError) as refused:
        revision_sql(config, "r04")
    [line] = str(refused.value).splitlines()
    assert line.startswith("the SQL of the upgrade to r04 from r01, r02, r03 cannot be told apart")
