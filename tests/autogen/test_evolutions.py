"""The proof on generated schemas: every generated evolution migrates without losing a row.

Hypothesis generates a starting schema of several tables and a few evolutions of it (see
evolutions.py). Each step writes the models, autogenerates a revision through the project's
rename-aware hook with exactly the hints a developer would give, upgrades a database holding
rows, and checks: every surviving row's values, moved through the renames, are unchanged;
foreign keys are still enforced; every name follows the naming convention; autogenerate finds
nothing left to do; and, where the step dropped nothing, the downgrade restores the previous
schema and rows, and the upgrade runs again. Migrations run in-process on one connection.

`pipenv run test-evolutions --examples 5000` runs a long search on demand.
"""

import argparse
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic_toolkit.autogen import AUTOGENERATE_PLUGINS
from alembic_toolkit.autogen.hints import Hints
from alembic_toolkit.autogen.names import name_drift
from alembic_toolkit.autogen.renames import rename_aware
from alembic_toolkit.checks import schema as snapshot
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import URL, Connection, create_engine, inspect

from alembic_stuff.db.migrations import alembic_config
from tests.autogen import evolutions as ev
from tests.databases import ROOT, scratch_database, settings_for

MISSING = {"int": 999_999, "bigint": 999_999, "short": "missing", "long": "missing"}


class Migrator:
    """A scratch migration environment with no revisions, on one connection to a database."""

    def __init__(self, folder: Path, database: URL, connection: Connection) -> None:
        self.folder, self.database, self.connection = folder, database, connection
        self.steps: Counter[str] = Counter()
        (folder / "alembic" / "versions").mkdir(parents=True)
        shutil.copy(ROOT / "alembic.ini", folder / "alembic.ini")
        for name in ("env.py", "script.py.mako"):
            shutil.copy(ROOT / "alembic" / name, folder / "alembic" / name)

    def reset(self) -> None:
        """An empty database and no revisions: a new example starts from nothing."""
        self.connection.rollback()
        self.connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        self.connection.commit()
        for revision in (self.folder / "alembic" / "versions").glob("*.py"):
            revision.unlink()

    def config(self, schema: ev.Schema) -> Config:
        """A config comparing against `schema`, on the test's connection."""
        config = alembic_config(
            settings_for(self.database),
            connection=self.connection,
            ini_path=self.folder / "alembic.ini",
            configure_logging=False,
        )
        # Formatting new revisions takes a process each; the proof needs only what they say.
        config.set_section_option("post_write_hooks", "hooks", "")
        config.attributes["target_metadata"] = schema.metadata()
        # quiet: no "Generating ..." line for each of hundreds of revisions.
        config.cmd_opts = argparse.Namespace(quiet=True)
        return config

    def step(self, before: ev.Schema | None, step: ev.Step) -> None:
        """Generate, apply and check one step; undo and redo it where it dropped nothing."""
        self.steps[step.what] += 1
        config = self.config(step.schema)
        undo_to = None if step.drops else before
        shape = snapshot(self.connection) if undo_to else None
        # Without hints, as `alembic revision --autogenerate` would write it; with them, as
        # the rename-aware CLI does.
        hook = None if step.hints is None else rename_aware(Hints.parse(step.hints), ask=None)
        written = command.revision(
            config, message=step.what, autogenerate=True, process_revision_directives=hook
        )
        command.upgrade(config, "head")
        self.check_models(step.schema)
        if written and undo_to:
            command.downgrade(config, "-1")
            assert snapshot(self.connection) == shape, f"{step.what}: downgrade left a change"
            self.check_rows(undo_to)
            command.upgrade(config, "head")
        self.insert_missing_rows(step.schema)
        self.check_rows(step.schema)
        self.check_foreign_keys(step.schema)

    def check_models(self, schema: ev.Schema) -> None:
        """Nothing left for autogenerate, and every name as the convention gives it."""
        metadata = schema.metadata()
        context = MigrationContext.configure(
            self.connection,
            opts={"compare_type": True, "autogenerate_plugins": AUTOGENERATE_PLUGINS},
        )
        assert compare_metadata(context, metadata) == []  # what `alembic check` compares
        assert name_drift(inspect(self.connection), metadata) == []
        labels = self.connection.execute(
            sa.text(
                "SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e"
                " JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = :name"
            ),
            {"name": ev.ENUM},
        ).scalar()
        uses_enum = any(c.kind == "enum" for t in schema.tables for c in t.columns)
        assert labels == (list(schema.enum_values) if uses_enum else None)
        self.connection.rollback()

    def insert_missing_rows(self, schema: ev.Schema) -> None:
        for table in schema.tables:
            target = sa.table(table.name, *(sa.column(c.name) for c in table.all_columns))
            if self.connection.execute(sa.select(sa.func.count()).select_from(target)).scalar():
                continue
            for row in schema.rows[table.name].values():  # in order: self-references go back
                self.connection.execute(target.insert().values(**row))
        self.connection.commit()

    def check_rows(self, schema: ev.Schema) -> None:
        """Each table holds exactly the rows the schema says, column by column."""
        present = set(inspect(self.connection).get_table_names()) - {"alembic_version"}
        assert present == {t.name for t in schema.tables}
        for table in schema.tables:
            target = sa.table(table.name, *(sa.column(c.name) for c in table.all_columns))
            found = {
                row[table.key.name]: dict(row)
                for row in self.connection.execute(sa.select(target)).mappings()
            }
            assert found == schema.rows[table.name], f"rows of {table.name} changed"
        self.connection.rollback()

    def check_foreign_keys(self, schema: ev.Schema) -> None:
        """A foreign key still refuses a value its table does not hold."""
        for table in schema.tables:
            rows = schema.rows[table.name]
            for column in table.columns:
                if column.references is None or not rows:
                    continue
                missing = MISSING[schema.table(column.references).key.kind]
                target = sa.table(table.name, sa.column(table.key.name), sa.column(column.name))
                change = (
                    target.update()
                    .where(target.c[table.key.name] == next(iter(rows)))
                    .values({column.name: missing})
                )
                with pytest.raises(sa.exc.IntegrityError), self.connection.begin_nested():
                    self.connection.execute(change)
        self.connection.rollback()


@pytest.fixture(scope="module")
def migrator(server_url: URL, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Migrator]:
    with scratch_database(server_url) as url:
        engine = create_engine(settings_for(url).migration_url)
        try:
            with engine.connect() as connection:
                yield Migrator(tmp_path_factory.mktemp("evolutions"), url, connection)
        finally:
            engine.dispose()


def evolve(migrator: Migrator, data: st.DataObject) -> None:
    """Draw a starting schema and up to three evolutions; run and check each step."""
    migrator.reset()
    names = ev.Names()
    schema = data.draw(ev.initial(names), label="initial")
    migrator.step(None, ev.Step("create", schema))
    for _ in range(data.draw(st.integers(1, 3), label="steps")):
        step = data.draw(ev.evolution(schema, names), label="step")
        migrator.step(schema, step)
        schema = step.schema


@pytest.mark.parametrize("batch", [1, 2])
def test_generated_evolutions(migrator: Migrator, batch: int, evolution_examples: int) -> None:
    @seed(batch)
    @settings(
        max_examples=max(1, evolution_examples // 2),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        evolve(migrator, data)

    migrator.steps.clear()
    started = time.monotonic()
    run()
    kinds = ", ".join(f"{count} {what}" for what, count in migrator.steps.most_common())
    # Shown by `pipenv run test-evolutions` (pytest -rP): what the search covered.
    print(
        f"evolutions batch {batch}: {evolution_examples // 2} examples, "
        f"{sum(migrator.steps.values())} steps in {time.monotonic() - started:.0f} s ({kinds})"
    )


# Failing examples Hypothesis found, kept by name -----------------------------------------------


def test_an_added_check_constraint_is_generated(migrator: Migrator) -> None:
    # Alembic compares check constraints only through an opt-in plugin; without it the check
    # was never created, and only the name check saw it missing.
    migrator.reset()
    key = ev.Col("id", "bigint", nullable=False)
    table = ev.Table("t0", key, (ev.Col("c1", "bigint", nullable=False),))
    before = ev.Schema((table,), {"t0": {1: {"id": 1, "c1": 701}}})
    migrator.step(None, ev.Step("create", before))
    checked = ev.Schema((replace(table, checks=(("ok2", "id"),)),), before.rows)
    migrator.step(before, ev.Step("add check", checked))


def test_an_enum_column_gains_a_value_and_is_renamed(migrator: Migrator) -> None:
    # Autogenerate alone neither creates the enum type nor sees a new value;
    # alembic-postgresql-enum, which env.py loads, does both, and composes with renames.
    migrator.reset()
    table = ev.Table("t0", ev.Col("id", "bigint", nullable=False), (ev.Col("c1", "enum"),))
    created = ev.Schema((table,), {"t0": {1: {"id": 1, "c1": "happy"}, 8: {"id": 8, "c1": "sad"}}})
    migrator.step(None, ev.Step("create", created))
    grown = replace(created, enum_values=(*created.enum_values, "calm"))
    migrator.step(created, ev.Step("add enum value", grown))
    renamed = ev.rename_column(grown, "t0", "c1", "feeling")
    migrator.step(grown, ev.Step("rename", renamed, ("rename=t0.c1:feeling",)))


def test_a_table_left_with_its_key_alone_evolves_on(migrator: Migrator) -> None:
    # Found by a 5,000-example search: the generator drew a second column to rename from a
    # table that had only its key left.
    key = ev.Col("id", "bigint", nullable=False)
    table = ev.Table("t0", key, (ev.Col("c1", "bigint", nullable=False),))
    created = ev.Schema((table,), {"t0": {1: {"id": 1, "c1": 701}}})
    bare = ev.drop_column(created, "t0", "c1")
    checks = settings(
        max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )

    @seed(0)
    @checks
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        migrator.reset()
        migrator.step(None, ev.Step("create", created))
        migrator.step(created, ev.Step("drop column", bare, ("allow_drop=t0.c1",), drops=True))
        names = ev.Names()
        for _ in ("t0", "c1"):  # taken: new names start at 2
            names("taken")
        migrator.step(bare, data.draw(ev.evolution(bare, names), label="step"))

    run()
