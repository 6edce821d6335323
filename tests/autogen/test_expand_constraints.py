"""The indexes and foreign keys of a zero-downtime rename (`-x rename_mode=expand`), on real
PostgreSQL: the helpers that build them take an object of the same name for theirs only when
it is theirs.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from alembic_toolkit import zerodowntime as zd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, text

from tests.databases import migration_operations

# Function-scoped fixtures (one scratch database a test) serve every example; each example
# drops what it made.
EXAMPLES = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@contextmanager
def shelf_tables(engine: Engine) -> Iterator[None]:
    """A shelf table and a second one, with rows, both dropped after the block."""
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE shelf (id integer PRIMARY KEY, a integer, b integer, c text)")
        )
        connection.execute(text("CREATE TABLE crate (id integer PRIMARY KEY, a integer)"))
        connection.execute(
            text("INSERT INTO shelf SELECT n, n, n * 2, 'c' || n FROM generate_series(1, 50) n")
        )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS shelf, crate CASCADE"))


@dataclass(frozen=True)
class IndexDefinition:
    """An index over plain columns, perhaps unique or partial."""

    table: str
    columns: tuple[str, ...]
    unique: bool
    where: str | None

    def create(self, name: str, *, concurrently: bool = False) -> str:
        """The CREATE INDEX statement for it, under `name`."""
        return (
            f"CREATE {'UNIQUE ' if self.unique else ''}INDEX "
            f"{'CONCURRENTLY ' if concurrently else ''}{name} ON {self.table} "
            f"({', '.join(self.columns)})" + (f" WHERE {self.where}" if self.where else "")
        )


# Two spellings of one predicate: PostgreSQL prints both back the same.
INDEXES = st.builds(
    IndexDefinition,
    table=st.sampled_from(["shelf", "crate"]),
    columns=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True).map(
        tuple
    ),
    unique=st.booleans(),
    where=st.sampled_from([None, "a > 0", "(a>0)", "a IS NOT NULL"]),
).filter(lambda index: index.table == "shelf" or index.columns == ("a",))


def index_definition(connection: Connection, name: str) -> str | None:
    """PostgreSQL's own CREATE INDEX for index `name`, with its name taken out."""
    definition = connection.execute(
        text("SELECT pg_get_indexdef(to_regclass(:name))"), {"name": name}
    ).scalar()
    return None if definition is None else str(definition).replace(f" {name} ", " ")


def index_oid(connection: Connection, name: str) -> int | None:
    oid: int | None = connection.execute(
        text("SELECT to_regclass(:name)::oid"), {"name": name}
    ).scalar()
    return oid


@EXAMPLES
@given(data=st.data(), existing=INDEXES)
def test_an_index_of_the_same_name_is_kept_only_when_it_is_the_one_asked_for(
    engine: Engine, data: st.DataObject, existing: IndexDefinition
) -> None:
    asked = data.draw(st.one_of(st.just(existing), INDEXES), label="asked")
    with shelf_tables(engine):
        with engine.begin() as connection:
            connection.execute(text(existing.create("ix_shelf_probe")))
            # The oracle: the index asked for, built under another name, as PostgreSQL prints it.
            connection.execute(text(asked.create("ix_oracle")))
            same = index_definition(connection, "ix_shelf_probe") == index_definition(
                connection, "ix_oracle"
            )
            connection.execute(text("DROP INDEX ix_oracle"))
            before = (
                index_oid(connection, "ix_shelf_probe"),
                index_definition(connection, "ix_shelf_probe"),
            )

        with engine.connect() as connection, migration_operations(connection):
            if same:
                zd.create_index_concurrently(
                    "ix_shelf_probe",
                    asked.table,
                    list(asked.columns),
                    unique=asked.unique,
                    where=asked.where,
                )
            else:
                with pytest.raises(zd.ZeroDowntimeError) as refused:
                    zd.create_index_concurrently(
                        "ix_shelf_probe",
                        asked.table,
                        list(asked.columns),
                        unique=asked.unique,
                        where=asked.where,
                    )
                [line] = str(refused.value).splitlines()
                assert line.startswith("ix_shelf_probe already exists (CREATE ")
                assert "rename or drop it, or give this index another name" in line
        # Kept as it was either way: neither rebuilt nor dropped.
        with engine.connect() as connection:
            assert (
                index_oid(connection, "ix_shelf_probe"),
                index_definition(connection, "ix_shelf_probe"),
            ) == before
            assert (
                connection.execute(text("SELECT to_regclass('pg_temp.zd_probe')")).scalar() is None
            )


def fail_a_unique_build(engine: Engine, name: str) -> None:
    """Leave index `name` INVALID, as a concurrent unique build that met a duplicate does."""
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(text("UPDATE shelf SET a = 1 WHERE id IN (1, 2)"))
        with pytest.raises(Exception, match="could not create unique index"):
            connection.execute(text(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON shelf (a)"))
        connection.execute(text("UPDATE shelf SET a = id"))
        assert zd.index_state(connection, name) == "invalid"


def test_an_invalid_index_is_rebuilt_when_it_is_the_one_asked_for(engine: Engine) -> None:
    with shelf_tables(engine):
        fail_a_unique_build(engine, "uq_shelf_a")
        with engine.connect() as connection:
            invalid = index_oid(connection, "uq_shelf_a")
        with engine.connect() as connection, migration_operations(connection):
            zd.create_index_concurrently("uq_shelf_a", "shelf", ["a"], unique=True)
        with engine.connect() as connection:
            assert zd.index_state(connection, "uq_shelf_a") == "valid"
            assert index_oid(connection, "uq_shelf_a") != invalid


def test_an_invalid_index_of_another_definition_is_left_and_named(engine: Engine) -> None:
    with shelf_tables(engine):
        fail_a_unique_build(engine, "uq_shelf_a")
        with engine.connect() as connection:
            invalid = index_oid(connection, "uq_shelf_a")
        with (
            engine.connect() as connection,
            migration_operations(connection),
            pytest.raises(
                zd.ZeroDowntimeError, match=r"^uq_shelf_a already exists \(CREATE UNIQUE"
            ),
        ):
            zd.create_index_concurrently("uq_shelf_a", "shelf", ["a", "b"], unique=True)
        with engine.connect() as connection:
            assert zd.index_state(connection, "uq_shelf_a") == "invalid"
            assert index_oid(connection, "uq_shelf_a") == invalid


def test_a_table_of_the_index_name_is_named_not_taken_for_the_index(engine: Engine) -> None:
    with shelf_tables(engine):
        with (
            engine.connect() as connection,
            migration_operations(connection),
            pytest.raises(zd.ZeroDowntimeError) as refused,
        ):
            zd.create_index_concurrently("crate", "shelf", ["a"])
        [line] = str(refused.value).splitlines()
        assert line.startswith(
            "crate already exists (a table), which is not the index on shelf (a)"
        )
        with engine.connect() as connection:
            assert index_definition(connection, "crate") is None
            assert zd.index_state(connection, "crate") == "missing"


ACTIONS = st.sampled_from([None, "NO ACTION", "RESTRICT", "CASCADE", "SET NULL"])


@dataclass(frozen=True)
class ForeignKeyDefinition:
    """A foreign key from shelf to crate (or to shelf itself), with its options."""

    columns: tuple[str, ...]
    referent: str
    ondelete: str | None
    onupdate: str | None
    deferrable: bool | None
    initially: str | None
    match: str | None

    def add(self, name: str) -> str:
        """The ALTER TABLE adding it under `name`."""
        options = [
            f"MATCH {self.match}" if self.match else "",
            f"ON DELETE {self.ondelete}" if self.ondelete else "",
            f"ON UPDATE {self.onupdate}" if self.onupdate else "",
            {True: "DEFERRABLE", False: "NOT DEFERRABLE", None: ""}[self.deferrable],
            f"INITIALLY {self.initially}" if self.initially else "",
        ]
        return (
            f"ALTER TABLE shelf ADD CONSTRAINT {name} FOREIGN KEY ({', '.join(self.columns)}) "
            f"REFERENCES {self.referent} (id) " + " ".join(o for o in options if o)
        )


FOREIGN_KEYS = st.builds(
    ForeignKeyDefinition,
    columns=st.sampled_from([("a",), ("b",)]),
    referent=st.sampled_from(["crate", "shelf"]),
    ondelete=ACTIONS,
    onupdate=ACTIONS,
    deferrable=st.sampled_from([None, True, False]),
    initially=st.sampled_from([None, "DEFERRED", "IMMEDIATE"]),
    match=st.sampled_from([None, "SIMPLE", "FULL"]),
).filter(lambda key: not (key.deferrable is False and key.initially == "DEFERRED"))


def constraint_definition(connection: Connection, name: str) -> str | None:
    definition = connection.execute(
        text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'shelf'::regclass AND conname = :name"
        ),
        {"name": name},
    ).scalar()
    return None if definition is None else str(definition)


@EXAMPLES
@given(data=st.data(), existing=FOREIGN_KEYS)
def test_a_foreign_key_of_the_same_name_is_kept_only_when_it_is_the_one_asked_for(
    engine: Engine, data: st.DataObject, existing: ForeignKeyDefinition
) -> None:
    asked = data.draw(st.one_of(st.just(existing), FOREIGN_KEYS), label="asked")
    with shelf_tables(engine):
        with engine.begin() as connection:
            connection.execute(text("UPDATE shelf SET a = NULL, b = NULL"))
            connection.execute(text(existing.add("fk_shelf_probe")))
            # The oracle: the foreign key asked for, added under another name.
            connection.execute(text(asked.add("fk_oracle")))
            same = constraint_definition(connection, "fk_shelf_probe") == constraint_definition(
                connection, "fk_oracle"
            )
            connection.execute(text("ALTER TABLE shelf DROP CONSTRAINT fk_oracle"))
            before = constraint_definition(connection, "fk_shelf_probe")

        def add() -> None:
            zd.add_foreign_key(
                "fk_shelf_probe",
                "shelf",
                asked.referent,
                list(asked.columns),
                ["id"],
                ondelete=asked.ondelete,
                onupdate=asked.onupdate,
                deferrable=asked.deferrable,
                initially=asked.initially,
                match=asked.match,
            )

        with engine.connect() as connection, migration_operations(connection):
            if same:
                add()
            else:
                with pytest.raises(zd.ZeroDowntimeError) as refused:
                    add()
                [line] = str(refused.value).splitlines()
                assert line.startswith(
                    f"constraint fk_shelf_probe on shelf already exists ({before}), which is not "
                    f"the foreign key ({asked.columns[0]}) to {asked.referent} (id)"
                )
                assert "rename or drop it, or give this foreign key another name" in line
        with engine.connect() as connection:
            assert constraint_definition(connection, "fk_shelf_probe") == before


def test_a_check_constraint_of_the_foreign_key_name_is_named(engine: Engine) -> None:
    with shelf_tables(engine):
        with engine.begin() as connection:
            connection.execute(
                text("ALTER TABLE shelf ADD CONSTRAINT fk_shelf_a_crate CHECK (a > 0)")
            )
        with (
            engine.connect() as connection,
            migration_operations(connection),
            pytest.raises(zd.ZeroDowntimeError) as refused,
        ):
            zd.add_foreign_key("fk_shelf_a_crate", "shelf", "crate", ["a"], ["id"])
        assert str(refused.value).startswith(
            "constraint fk_shelf_a_crate on shelf already exists (CHECK ((a > 0)))"
        )
