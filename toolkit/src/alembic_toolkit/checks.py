"""Properties every migration history must have, as checks to call from any project's tests.

Each check raises (an AssertionError, or the database's own error) when its property does not
hold. They are what pytest-alembic's built-in tests lack, and are meant beside them: its
`test_upgrade` and `test_up_down_consistency` (up to the heads and back) and
`test_model_definitions_match_ddl` (autogenerate finds nothing) are not repeated here.
This project's tests run them on its history, where they pass, and on histories broken on
purpose, where each must fail (tests/db/test_migration_checks.py).
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect

from alembic_toolkit.autogen.names import name_drift

Row = Mapping[str, object]
Seeds = Mapping[str, Sequence[tuple[str, Row]]]
"""Rows to insert once the database is at a revision: {revision: [(table, row), ...]}."""

VERSION_TABLE = "alembic_version"


class MigrationCheckError(AssertionError):
    """A property of the migration history does not hold; the message says where."""


def _require(holds: bool, message: str) -> None:
    # Not `assert`: the checks must hold under `python -O` too.
    if not holds:
        raise MigrationCheckError(message)


def revisions(config: Config) -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(config)
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def schema(engine: Engine | Connection) -> dict[str, Any]:
    """A comparable description of every table: columns, keys, constraints and indexes."""
    inspector = inspect(engine)
    snapshot: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {VERSION_TABLE}):
        snapshot[table] = {
            # By name: a column dropped and added back comes last, where nothing reads its
            # place (rows are read and written by column name). Key and index columns keep
            # their order, which means something there.
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            ),
            "primary_key": inspector.get_pk_constraint(table),
            "foreign_keys": sorted(str(fk) for fk in inspector.get_foreign_keys(table)),
            "unique": sorted(str(uq) for uq in inspector.get_unique_constraints(table)),
            "checks": sorted(str(ck) for ck in inspector.get_check_constraints(table)),
            "indexes": sorted(str(ix) for ix in inspector.get_indexes(table)),
        }
    return snapshot


def check_one_head_per_branch(config: Config) -> None:
    """Each head ends a labelled branch (expand, contract), one head each: no unmerged fork."""
    script = ScriptDirectory.from_config(config)
    heads = [script.get_revision(head) for head in script.get_heads()]
    labels = [sorted(head.branch_labels) for head in heads if head is not None]
    one_each = all(len(label) == 1 for label in labels) and len(set(map(tuple, labels))) == len(
        labels
    )
    _require(
        one_each, f"expected one head per branch label, found {len(heads)}: {script.get_heads()}"
    )


def check_stairway(config: Config, engine: Engine) -> None:
    """Every revision survives up, down one step, and up again."""
    for revision in revisions(config):
        command.upgrade(config, revision)
        command.downgrade(config, f"{revision}@-1")
        command.upgrade(config, revision)


def check_downgrade_leaves_no_trace(config: Config, engine: Engine) -> None:
    """After each revision's upgrade and downgrade, the schema is as before.

    It starts from an empty database (at base): it upgrades from the first revision, one at a
    time, and refuses to start elsewhere. Columns are compared by name, not position.
    """
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
        tables = set(inspect(connection).get_table_names()) - {VERSION_TABLE}
    _require(
        not current and not tables,
        "check_downgrade_leaves_no_trace needs an empty database, at base: it upgrades from the "
        f"first revision (found revisions {list(current)} and tables {sorted(tables)})",
    )
    for revision in revisions(config):
        before = schema(engine)
        command.upgrade(config, revision)
        command.downgrade(config, f"{revision}@-1")
        after = schema(engine)
        _require(after == before, f"downgrading {revision} did not restore the schema")
        command.upgrade(config, revision)


def check_names_match_models(config: Config, engine: Engine, models: MetaData) -> None:
    """At the heads, every constraint and index has the name the models give it.

    `alembic check` (and pytest-alembic) compare columns, types and indexes, but not the names
    of foreign keys, primary keys and check constraints, which later revisions refer to.
    """
    command.upgrade(config, "heads")
    drift = name_drift(inspect(engine), models)
    _require(drift == [], "names differ from the models':\n" + "\n".join(drift))


def check_data_survives(config: Config, engine: Engine, seeds: Seeds) -> None:
    """Rows inserted at each revision keep their values through every later upgrade and back.

    Columns and tables may be renamed on the way: a row counts as kept when some row of the
    table (or, for a renamed table, of any table) still holds all of its values.
    """
    order = revisions(config)
    seeded: list[tuple[str, Row]] = []
    for revision in order:
        command.upgrade(config, revision)
        with engine.begin() as connection:
            for table, row in seeds.get(revision, ()):
                target = sa.table(table, *(sa.column(name) for name in row))
                connection.execute(target.insert().values(**row))
                seeded.append((table, row))
        _assert_kept(engine, seeded, f"after upgrading to {revision}")
    for revision in reversed(order[:-1]):
        command.downgrade(config, revision)
        kept = [(t, r) for t, r in seeded if _seeded_at_or_before(t, r, revision, order, seeds)]
        _assert_kept(engine, kept, f"after downgrading to {revision}")


def _seeded_at_or_before(
    table: str, row: Row, revision: str, order: list[str], seeds: Seeds
) -> bool:
    position = order.index(revision)
    return any((table, row) in seeds.get(r, ()) for r in order[: position + 1])


def _assert_kept(engine: Engine, seeded: Iterable[tuple[str, Row]], when: str) -> None:
    tables = set(inspect(engine).get_table_names()) - {VERSION_TABLE}
    with engine.connect() as connection:
        contents = {
            table: [
                set(map(str, row))
                for row in connection.execute(sa.text(f'SELECT * FROM "{table}"'))  # noqa: S608 - names from the catalogue
            ]
            for table in tables
        }
    for table, row in seeded:
        wanted = set(map(str, row.values()))
        candidates = contents.get(table) or [r for rows in contents.values() for r in rows]
        kept = any(wanted <= values for values in candidates)
        _require(kept, f"{when}: the row {dict(row)} seeded into {table} has lost values")
