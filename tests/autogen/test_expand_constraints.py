"""The indexes and foreign keys of a zero-downtime rename (`-x rename_mode=expand`), on real
PostgreSQL.

First the helpers the pair calls: an index or foreign key of the same name is taken for the
one asked for only when it is that one (PostgreSQL itself is the oracle: the one asked for is
built under another name and both are printed back); an unnamed one is named as PostgreSQL
names it. Then the pair itself, generated in a scratch copy of the project for a library of
three tables whose renamed columns Hypothesis indexes and points at another table, and run up
and down (and again, as after a kill) on a database holding rows.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
import sqlalchemy as sa
from alembic.script import Script, ScriptDirectory
from alembic_toolkit import zerodowntime as zd
from alembic_toolkit.autogen.default_names import FOREIGN_KEY, INDEX, MAX_IDENTIFIER, default_name
from alembic_toolkit.autogen.hints import HintError
from alembic_toolkit.review import destructive, squawk
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import URL, Connection, Engine, MetaData, inspect, text
from sqlalchemy.schema import SchemaItem

from alembic_stuff.db.base import NAMING_CONVENTION, Base
from alembic_stuff.models import Country
from tests.databases import (
    Scratch,
    copy_migration_environment,
    migration_operations,
    scratch_database,
    sync_engine,
)

# Function-scoped fixtures (one scratch database a test) serve every example; each example
# drops what it made.
D = TypeVar("D")

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


def catalogue_oids(connection: Connection, name: str) -> set[int]:
    """The oids of the relations (an index) and constraints named `name`."""
    rows = connection.execute(
        text(
            "SELECT oid FROM pg_class WHERE relname = :name"
            " UNION SELECT oid FROM pg_constraint WHERE conname = :name"
        ),
        {"name": name},
    )
    return {int(row.oid) for row in rows}


@dataclass(frozen=True)
class SameName(Generic[D]):
    """Objects of one kind that a helper keeps when one of its name is as asked, else refuses."""

    name: str
    definitions: st.SearchStrategy[D]
    make: Callable[[D, str], list[str]]
    """The statements making a definition under a name."""
    printed: Callable[[Connection, str], str | None]
    """PostgreSQL's own print of the one of that name, its name left out."""
    helper: Callable[[D], None]
    """The helper of alembic_toolkit.zerodowntime asking for a definition, under `name`."""
    refusal: Callable[[D, D], list[str]]
    """What its one line says, for the existing definition and the one asked for."""


def kept_or_refused(engine: Engine, kind: SameName[D], existing: D, asked: D) -> str | None:
    """Make `existing` under the kind's name, then run its helper asking for `asked`.

    The oracle is PostgreSQL's own print of the two: the one asked for is made under another
    name, in a savepoint rolled back at once. When they print alike the helper must keep the
    existing one, else refuse in one line, which is returned; either way the existing one is
    left as it was: neither rebuilt nor dropped.
    """
    name = kind.name
    with shelf_tables(engine):
        with engine.begin() as connection:
            for statement in kind.make(existing, name):
                connection.execute(text(statement))
            before = (kind.printed(connection, name), catalogue_oids(connection, name))
            with connection.begin_nested() as savepoint:
                for statement in kind.make(asked, "zd_oracle"):
                    connection.execute(text(statement))
                same = before[0] == kind.printed(connection, "zd_oracle")
                savepoint.rollback()
        line = None
        with engine.connect() as connection, migration_operations(connection):
            if same:
                kind.helper(asked)
            else:
                with pytest.raises(zd.ZeroDowntimeError) as refused:
                    kind.helper(asked)
                [line] = str(refused.value).splitlines()
        with engine.connect() as connection:
            assert (kind.printed(connection, name), catalogue_oids(connection, name)) == before
            assert (
                connection.execute(text("SELECT to_regclass('pg_temp.zd_probe')")).scalar() is None
            )
    return line


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
            invalid = catalogue_oids(connection, "uq_shelf_a")
        with engine.connect() as connection, migration_operations(connection):
            zd.create_index_concurrently("uq_shelf_a", "shelf", ["a"], unique=True)
        with engine.connect() as connection:
            assert zd.index_state(connection, "uq_shelf_a") == "valid"
            assert catalogue_oids(connection, "uq_shelf_a") != invalid


def test_an_invalid_index_of_another_definition_is_left_and_named(engine: Engine) -> None:
    with shelf_tables(engine):
        fail_a_unique_build(engine, "uq_shelf_a")
        with engine.connect() as connection:
            invalid = catalogue_oids(connection, "uq_shelf_a")
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
            assert catalogue_oids(connection, "uq_shelf_a") == invalid


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
class KeyOptions:
    """The options of a foreign key as the model gives them."""

    ondelete: str | None = None
    onupdate: str | None = None
    deferrable: bool | None = None
    initially: str | None = None
    match: str | None = None

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of ForeignKeyConstraint it sets."""
        return {key: value for key, value in vars(self).items() if value is not None}


KEY_OPTIONS = st.builds(
    KeyOptions,
    ondelete=ACTIONS,
    onupdate=ACTIONS,
    deferrable=st.sampled_from([None, True, False]),
    initially=st.sampled_from([None, "DEFERRED", "IMMEDIATE"]),
    match=st.sampled_from([None, "SIMPLE", "FULL"]),
).filter(lambda key: not (key.deferrable is False and key.initially == "DEFERRED"))


@dataclass(frozen=True)
class ForeignKeyDefinition:
    """A foreign key from shelf to crate (or to shelf itself), with its options."""

    columns: tuple[str, ...]
    referent: str
    options: KeyOptions

    def add(self, name: str) -> str:
        """The ALTER TABLE adding it under `name`."""
        options = self.options
        clauses = [
            f"MATCH {options.match}" if options.match else "",
            f"ON DELETE {options.ondelete}" if options.ondelete else "",
            f"ON UPDATE {options.onupdate}" if options.onupdate else "",
            {True: "DEFERRABLE", False: "NOT DEFERRABLE", None: ""}[options.deferrable],
            f"INITIALLY {options.initially}" if options.initially else "",
        ]
        return (
            f"ALTER TABLE shelf ADD CONSTRAINT {name} FOREIGN KEY ({', '.join(self.columns)}) "
            f"REFERENCES {self.referent} (id) " + " ".join(clause for clause in clauses if clause)
        )


FOREIGN_KEYS = st.builds(
    ForeignKeyDefinition,
    columns=st.sampled_from([("a",), ("b",)]),
    referent=st.sampled_from(["crate", "shelf"]),
    options=KEY_OPTIONS,
)


def constraint_definition(connection: Connection, name: str) -> str | None:
    definition = connection.execute(
        text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'shelf'::regclass AND conname = :name"
        ),
        {"name": name},
    ).scalar()
    return None if definition is None else str(definition)


# Conditions every row of shelf meets, two of them the same one spelled differently.
CONDITIONS = st.sampled_from(["a > 0", "(a>0)", "b > a", "c <> ''", "a IS NOT NULL"])


# Conditions every row of shelf meets, two of them the same one spelled differently.
CONDITIONS = st.sampled_from(["a > 0", "(a>0)", "b > a", "c <> ''", "a IS NOT NULL"])

SAME_NAMES: dict[str, SameName[Any]] = {
    "index": SameName[IndexDefinition](
        "ix_shelf_probe",
        INDEXES,
        lambda index, name: [index.create(name)],
        index_definition,
        lambda index: zd.create_index_concurrently(
            "ix_shelf_probe",
            index.table,
            list(index.columns),
            unique=index.unique,
            where=index.where,
        ),
        lambda existing, asked: [
            "ix_shelf_probe already exists (CREATE ",
            "rename or drop it, or give this index another name",
        ],
    ),
    "foreign key": SameName[ForeignKeyDefinition](
        "fk_shelf_probe",
        FOREIGN_KEYS,
        # Rows that every foreign key drawn holds for, whatever it refers to.
        lambda key, name: ["UPDATE shelf SET a = NULL, b = NULL", key.add(name)],
        constraint_definition,
        lambda key: zd.add_foreign_key(
            "fk_shelf_probe",
            "shelf",
            key.referent,
            list(key.columns),
            ["id"],
            **key.options.arguments(),
        ),
        lambda existing, asked: [
            "constraint fk_shelf_probe on shelf already exists (FOREIGN KEY "
            f"({existing.columns[0]}) REFERENCES {existing.referent}(id)",
            f"), which is not the foreign key ({asked.columns[0]}) to {asked.referent} (id)",
            "rename or drop it, or give this foreign key another name",
        ],
    ),
    "check": SameName[str](
        "ck_shelf_probe",
        CONDITIONS,
        lambda condition, name: [f"ALTER TABLE shelf ADD CONSTRAINT {name} CHECK ({condition})"],
        constraint_definition,
        lambda condition: zd.add_check_constraint("ck_shelf_probe", "shelf", condition),
        lambda existing, asked: [
            "constraint ck_shelf_probe on shelf already exists (CHECK ",
            f"which is not the CHECK ({asked}) this migration adds",
            "rename or drop it, or give this check another name",
        ],
    ),
}


@pytest.mark.parametrize("kind", list(SAME_NAMES))
@EXAMPLES
@given(data=st.data())
def test_one_of_the_same_name_is_kept_only_when_it_is_the_one_asked_for(
    engine: Engine, data: st.DataObject, kind: str
) -> None:
    same_name = SAME_NAMES[kind]
    existing = data.draw(same_name.definitions, label="existing")
    asked = data.draw(st.one_of(st.just(existing), same_name.definitions), label="asked")
    line = kept_or_refused(engine, same_name, existing, asked)
    if line is not None:
        starts, *says = same_name.refusal(existing, asked)
        assert line.startswith(starts), line
        assert [said for said in says if said not in line] == [], line


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


def test_a_rename_run_again_finds_it_done_and_a_lost_name_is_named(engine: Engine) -> None:
    with shelf_tables(engine):
        with engine.begin() as connection:
            connection.execute(text("CREATE INDEX ix_shelf_a ON shelf (a)"))
            connection.execute(text("CREATE INDEX ix_crate_a ON crate (a)"))
            connection.execute(text("ALTER TABLE shelf ADD CONSTRAINT ck_shelf_a CHECK (a > 0)"))
        for _ in range(2):
            with engine.connect() as connection, migration_operations(connection):
                zd.rename_index("ix_shelf_a", "ix_shelf_a_expand", "shelf")
                zd.rename_constraint("shelf", "ck_shelf_a", "ck_shelf_a_expand")
        with engine.connect() as connection:
            assert zd.index_state(connection, "ix_shelf_a_expand") == "valid"
            assert zd.index_state(connection, "ix_shelf_a") == "missing"
            assert constraint_definition(connection, "ck_shelf_a_expand") == "CHECK ((a > 0))"
        refusals: dict[str, Callable[[], None]] = {
            "cannot rename index ix_shelf_b of shelf to ix_shelf_b_expand: shelf has no index "
            "ix_shelf_b": lambda: zd.rename_index("ix_shelf_b", "ix_shelf_b_expand", "shelf"),
            "cannot rename index ix_shelf_a_expand of shelf to ix_crate_a: that is another "
            "table's index": lambda: zd.rename_index("ix_shelf_a_expand", "ix_crate_a", "shelf"),
            "cannot rename constraint ck_shelf_b of shelf to ck_shelf_c: shelf has neither": (
                lambda: zd.rename_constraint("shelf", "ck_shelf_b", "ck_shelf_c")
            ),
        }
        for refusal, rename in refusals.items():
            with (
                engine.connect() as connection,
                migration_operations(connection),
                pytest.raises(zd.ZeroDowntimeError) as refused,
            ):
                rename()
            [line] = str(refused.value).splitlines()
            assert line.startswith(refusal)


# Names as PostgreSQL chooses them: long, multibyte, taken.
IDENTIFIERS = st.text(alphabet="abz_éü日", min_size=1, max_size=40).filter(
    lambda name: len(name.encode()) <= MAX_IDENTIFIER
)


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def names_in_schema(connection: Connection, label: str) -> set[str]:
    """The constraint names (for a foreign key) or relation names (an index) of `public`."""
    query = (
        "SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
        if label == FOREIGN_KEY
        else "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
    )
    return set(connection.execute(text(query)).scalars())


@EXAMPLES
@given(
    table=IDENTIFIERS,
    columns=st.lists(IDENTIFIERS, min_size=1, max_size=3, unique=True),
    label=st.sampled_from([FOREIGN_KEY, INDEX]),
    times=st.integers(min_value=1, max_value=3),
)
# Two parts of one length over the limit: PostgreSQL shortens the columns' first.
@example(table="t" * 40, columns=["c" * 40], label=FOREIGN_KEY, times=2)
@example(table="t" * 40, columns=["c" * 20, "d" * 19], label=INDEX, times=2)
def test_an_unnamed_object_is_named_as_postgresql_names_it(
    engine: Engine, table: str, columns: list[str], label: str, times: int
) -> None:
    keys = [f"k{n}" for n in range(len(columns))]
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE referent ({', '.join(f'{k} integer' for k in keys)},"
                f" PRIMARY KEY ({', '.join(keys)}))"
            )
        )
        listed = ", ".join(quoted(column) for column in columns)
        typed = ", ".join(f"{quoted(column)} integer" for column in columns)
        connection.execute(text(f"CREATE TABLE {quoted(table)} ({typed})"))
        for _ in range(times):
            before = names_in_schema(connection, label)
            expected = default_name(table, columns, label, before)
            if label == FOREIGN_KEY:
                connection.execute(
                    text(
                        f"ALTER TABLE {quoted(table)} ADD FOREIGN KEY ({listed})"
                        f" REFERENCES referent ({', '.join(keys)})"
                    )
                )
            else:
                connection.execute(text(f"CREATE INDEX ON {quoted(table)} ({listed})"))
            assert names_in_schema(connection, label) - before == {expected}
        connection.rollback()


# The generated pair, on a library of several tables: author, book (whose columns are
# renamed, indexed and pointing at author in ways Hypothesis draws) and review (pointing at
# book). Each example is a database of its own, holding rows, taken through the expand, a
# re-run of it (as after a kill), the contract, and back down both.

BOOKS = 300


@dataclass(frozen=True)
class Library:
    """What the book table has: which of its columns are renamed, indexed, foreign keys."""

    convention: bool = True
    """The project's naming convention, or none (SQLAlchemy's default names only indexes)."""
    title_nullable: bool = False
    title_indexed: bool = False
    title_key: KeyOptions | None = None
    title_key_name: str | None = None
    """A name the model gives the title's foreign key, kept through the rename."""
    editor_renamed: bool = False
    editor_indexed: bool = False
    editor_key: KeyOptions | None = None
    search: tuple[str, ...] = ()
    """The columns of an index over title and another column, in order (none: no index)."""
    search_name: str | None = None
    search_unique: bool = False

    def model(self, *, renamed: bool) -> MetaData:
        """The library before the renames, or after them."""
        title = "heading" if renamed else "title"
        editor = "redactor" if renamed and self.editor_renamed else "editor"
        metadata = MetaData(naming_convention=NAMING_CONVENTION) if self.convention else MetaData()
        Base.metadata.tables[Country.__tablename__].to_metadata(metadata)
        sa.Table(
            "author",
            metadata,
            sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
            sa.Column("code", sa.String(5), nullable=False, unique=True),
        )
        book: list[SchemaItem] = [
            sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
            sa.Column("author_id", sa.BigInteger, sa.ForeignKey("author.id"), nullable=False),
            sa.Column("label", sa.String(20), nullable=False),
            sa.Column(title, sa.String(5), nullable=self.title_nullable, index=self.title_indexed),
            sa.Column(editor, sa.String(5), index=self.editor_indexed),
        ]
        if self.title_key is not None:
            book.append(
                sa.ForeignKeyConstraint(
                    [title], ["author.code"], name=self.title_key_name, **self.title_key.arguments()
                )
            )
        if self.editor_key is not None:
            book.append(
                sa.ForeignKeyConstraint([editor], ["author.code"], **self.editor_key.arguments())
            )
        if self.search:
            names = {"title": title, "editor": editor}
            columns = [names.get(column, column) for column in self.search]
            book.append(sa.Index(self.search_name, *columns, unique=self.search_unique))
        sa.Table("book", metadata, *book)
        sa.Table(
            "review",
            metadata,
            sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
            sa.Column(
                "book_id",
                sa.BigInteger,
                sa.ForeignKey("book.id", ondelete="CASCADE"),
                nullable=False,
                index=True,
            ),
        )
        return metadata

    def hints(self) -> list[str]:
        """The -x hints of the renames, in expand mode."""
        renames = ["rename=book.title:heading"]
        if self.editor_renamed:
            renames.append("rename=book.editor:redactor")
        return [*renames, "rename_mode=expand"]


LIBRARIES = st.builds(
    Library,
    convention=st.booleans(),
    title_nullable=st.booleans(),
    title_indexed=st.booleans(),
    title_key=st.none() | KEY_OPTIONS,
    title_key_name=st.sampled_from([None, "fk_book_writer"]),
    editor_renamed=st.booleans(),
    editor_indexed=st.booleans(),
    editor_key=st.none() | KEY_OPTIONS,
    search=st.sampled_from(
        [
            (),
            ("author_id", "title"),
            ("title", "author_id"),
            ("title", "editor"),
            ("editor", "title"),
        ]
    ),
    search_name=st.sampled_from([None, "ix_book_search"]),
    search_unique=st.booleans(),
).filter(
    # Unnamed, an index is named after its first column: ix_book_title twice is no model.
    lambda library: (
        not (
            library.search_name is None
            and (
                (library.search[:1] == ("title",) and library.title_indexed)
                or (library.search[:1] == ("editor",) and library.editor_indexed)
            )
        )
    )
)

MODEL_TABLES = ("author", "book", "review")


def schema(connection: Connection) -> dict[str, Any]:
    """The library's tables as PostgreSQL has them, object by object (column order aside)."""
    inspector = inspect(connection)
    tables: dict[str, Any] = {}
    for table in MODEL_TABLES:
        tables[table] = {
            "columns": {
                column["name"]: (str(column["type"]), column["nullable"], column["default"])
                for column in inspector.get_columns(table)
            },
            "primary key": inspector.get_pk_constraint(table),
            "indexes": sorted(
                (
                    index["name"],
                    tuple(index["column_names"]),
                    index["unique"],
                    index.get("dialect_options", {}).get("postgresql_where"),
                )
                for index in inspector.get_indexes(table)
            ),
            "foreign keys": sorted(
                (
                    key["name"],
                    tuple(key["constrained_columns"]),
                    key["referred_table"],
                    tuple(key["referred_columns"]),
                    tuple(sorted(key["options"].items())),
                )
                for key in inspector.get_foreign_keys(table)
            ),
            "unique": sorted(
                (unique["name"], tuple(unique["column_names"]))
                for unique in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(
                (check["name"], check["sqltext"])
                for check in inspector.get_check_constraints(table)
            ),
        }
    # What the expand adds beside them: the sync trigger and its function.
    tables["triggers"] = connection.execute(
        text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname")
    ).all()
    tables["functions"] = connection.execute(
        text(
            "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
            " ORDER BY proname"
        )
    ).all()
    return tables


def fill(connection: Connection) -> None:
    """30 authors, BOOKS books pointing at them (title and editor by code), reviews."""
    connection.execute(
        text(
            "INSERT INTO author (code)"
            " SELECT 'A' || lpad(n::text, 2, '0') FROM generate_series(0, 29) n"
        )
    )
    # (author_id, title) unique, for a unique index over them.
    connection.execute(
        text(
            "INSERT INTO book (author_id, label, title, editor)"
            " SELECT n % 10 + 1, 'book ' || n, 'A' || lpad((n / 10 % 30)::text, 2, '0'),"
            " CASE WHEN n % 3 > 0 THEN 'A' || lpad((n % 30)::text, 2, '0') END"
            " FROM generate_series(0, :last) n"
        ),
        {"last": BOOKS - 1},
    )
    connection.execute(text("INSERT INTO review (book_id) SELECT id FROM book WHERE id % 4 = 0"))


def books(connection: Connection, title: str, editor: str) -> dict[int, tuple[Any, ...]]:
    """Every book by id: its author, label, title and editor, under the names given."""
    rows = connection.execute(
        text(f"SELECT id, author_id, label, {title}, {editor} FROM book")  # noqa: S608 - names
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def versions(connection: Connection) -> set[str]:
    """The revisions alembic_version holds."""
    return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def rewind(engine: Engine, rows: set[str]) -> None:
    """Put alembic_version back to `rows`, as a kill before a revision's last step leaves it."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
        connection.execute(
            text("INSERT INTO alembic_version (version_num) VALUES (:row)"),
            [{"row": row} for row in rows],
        )


def the_pair(scratch: Scratch, model: MetaData, known: list[Path]) -> tuple[Script, Script]:
    """The expand and the contract revision written since `known`, checked as `qa` reads them."""
    paths = [path for path in scratch.new_revisions() if path not in known]
    assert len(paths) == 2
    script = ScriptDirectory.from_config(scratch.config(model))
    written = [s for s in script.walk_revisions() if Path(s.path) in paths]
    [expand] = [s for s in written if "expand" in s.branch_labels]
    [contract] = [s for s in written if "contract" in s.branch_labels]
    return expand, contract


def created(server_url: URL, model: MetaData) -> dict[str, Any]:
    """The library's schema as `create_all` makes it from `model` on an empty database."""
    with scratch_database(server_url) as url, sync_engine(url) as engine:
        with engine.begin() as connection:
            model.create_all(connection)
        with engine.connect() as connection:
            return schema(connection)


def round_trip(
    folder: Path, server_url: URL, head_template: str, library: Library, *, reviewed: bool = False
) -> None:
    """Generate the pair for `library`, and run it up and down on a database holding rows."""
    before, after = library.model(renamed=False), library.model(renamed=True)
    editor = "redactor" if library.editor_renamed else "editor"
    with scratch_database(server_url, head_template) as url, sync_engine(url) as engine:
        scratch = Scratch(copy_migration_environment(folder), url)
        scratch.revise(before, message="add the library")
        scratch.upgrade(before)
        with engine.begin() as connection:
            fill(connection)
        with engine.connect() as connection:
            original, rows = schema(connection), books(connection, "title", "editor")
        known = scratch.new_revisions()

        scratch.revise(after, *library.hints(), message="rename")
        expand, contract = the_pair(scratch, after, known)
        if reviewed:
            # As `pipenv run qa` reads them: the guard (with the branches) and squawk.
            script = ScriptDirectory.from_config(scratch.config(after))
            paths = [Path(expand.path), Path(contract.path)]
            assert list(destructive.problems(paths, destructive.placements(script))) == []
            assert list(squawk.lint(scratch.config(MetaData()))) == []

        scratch.upgrade(after, "expand@head")
        with engine.begin() as connection:
            # The previous release writes the old names, the next one the new names.
            connection.execute(
                text("INSERT INTO book (author_id, label, title) VALUES (20, 'by N', 'A01')")
            )
            connection.execute(
                text("INSERT INTO book (author_id, label, heading) VALUES (21, 'by N+1', 'A02')")
            )
        with engine.connect() as connection:
            rows = books(connection, "title", "editor")
            assert books(connection, "heading", editor) == rows
            expanded = schema(connection)
        # Killed before alembic_version moved, the expand runs again from its top: each step
        # finds its own work done and keeps it.
        assert isinstance(expand.down_revision, str)
        scratch.stamp(after, expand.down_revision)
        with engine.connect() as connection:
            assert expand.revision not in versions(connection)
        scratch.upgrade(after, "expand@head")
        with engine.connect() as connection:
            assert expand.revision in versions(connection)
            assert schema(connection) == expanded

        with engine.connect() as connection:
            before_contract = versions(connection)
        scratch.upgrade(after, "contract@head")
        scratch.check(after)
        with engine.connect() as connection:
            assert books(connection, "heading", editor) == rows
            contracted = schema(connection)
            assert contracted == created(server_url, after)
        # Each revision, up or down, runs again from its top as after a kill just before
        # alembic_version moved: every step finds its work done.
        rewind(engine, before_contract)
        scratch.upgrade(after, "contract@head")
        with engine.connect() as connection:
            assert schema(connection) == contracted

        scratch.downgrade(after, "contract@-1")
        with engine.connect() as connection:
            assert schema(connection) == expanded
        # Its downgrade too, as after a kill in its backfill.
        scratch.stamp(after, contract.revision)
        with engine.connect() as connection:
            assert contract.revision in versions(connection)
        scratch.downgrade(after, "contract@-1")
        with engine.connect() as connection:
            assert contract.revision not in versions(connection)
            assert schema(connection) == expanded
        with engine.connect() as connection:
            before_undo = versions(connection)
        scratch.downgrade(after, "expand@-1")
        rewind(engine, before_undo)
        scratch.downgrade(after, "expand@-1")
        with engine.connect() as connection:
            assert schema(connection) == original
            assert books(connection, "title", "editor") == rows


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(library=LIBRARIES)
def test_the_pair_carries_every_index_and_foreign_key_over_and_back(
    tmp_path_factory: pytest.TempPathFactory, server_url: URL, head_template: str, library: Library
) -> None:
    round_trip(tmp_path_factory.mktemp("project"), server_url, head_template, library)


def test_an_index_and_a_foreign_key_keep_their_names_through_the_rename(
    tmp_path: Path, server_url: URL, head_template: str
) -> None:
    # Both names stay the same on the new column: the old column's hold them until the
    # contract drops it.
    library = Library(
        title_key=KeyOptions(ondelete="CASCADE"),
        title_key_name="fk_book_writer",
        search=("author_id", "title"),
        search_name="ix_book_search",
    )
    round_trip(tmp_path, server_url, head_template, library, reviewed=True)
    [expand] = list((tmp_path / "alembic" / "versions").glob("*_rename_expand.py"))
    upgrade = expand.read_text().split("def downgrade")[0]
    assert 'zd.create_index_concurrently(op.f("ix_book_search_expand"), "book"' in upgrade
    assert 'op.f("fk_book_writer_expand"), "book", "author"' in upgrade


def test_an_index_over_two_renamed_columns_is_built_once_both_are_there(
    tmp_path: Path, server_url: URL, head_template: str
) -> None:
    library = Library(editor_renamed=True, search=("title", "editor"), search_name="ix_book_pair")
    round_trip(tmp_path, server_url, head_template, library)


def test_foreign_key_options_are_carried_over(
    tmp_path: Path, server_url: URL, head_template: str
) -> None:
    every_option = KeyOptions("CASCADE", "CASCADE", True, "DEFERRED", "FULL")
    library = Library(
        title_key=every_option, editor_renamed=True, editor_key=KeyOptions("SET NULL")
    )
    round_trip(tmp_path, server_url, head_template, library, reviewed=True)


def test_unnamed_foreign_keys_get_the_names_postgresql_gives_them(
    tmp_path: Path, server_url: URL, head_template: str
) -> None:
    # No naming convention: both renamed columns' foreign keys are unnamed in the model.
    library = Library(
        convention=False, title_key=KeyOptions(), editor_renamed=True, editor_key=KeyOptions()
    )
    round_trip(tmp_path, server_url, head_template, library)
    [expand] = list((tmp_path / "alembic" / "versions").glob("*_rename_expand.py"))
    source = expand.read_text()
    assert 'zd.add_foreign_key(op.f("book_heading_fkey"), "book", "author"' in source
    assert 'zd.add_foreign_key(op.f("book_redactor_fkey"), "book", "author"' in source
    assert "'None'" not in source
    assert '"None"' not in source


def indexed(model: MetaData, name: str, column: str) -> MetaData:
    """`model` with one more index on book, `name`, over `column`."""
    sa.Index(name, model.tables["book"].c[column])
    return model


SEARCHED = Library(search=("author_id", "title"), search_name="ix_book_search")


@pytest.mark.parametrize(
    ("before", "after", "refusal"),
    [
        (
            indexed(Library().model(renamed=False), "ix_book_shelf", "label"),
            indexed(Library().model(renamed=True), "ix_book_shelf", "heading"),
            "the index ix_book_shelf the models give the new column is the name of something "
            "else the database keeps; rename or drop that in a revision of its own first",
        ),
        (
            indexed(SEARCHED.model(renamed=False), "ix_book_search_expand", "label"),
            indexed(SEARCHED.model(renamed=True), "ix_book_search_expand", "label"),
            "the index ix_book_search is built under the name ix_book_search_expand until the "
            "contract drops the old column's, but ix_book_search_expand is taken",
        ),
    ],
    ids=["held-by-another-index", "expand-name-taken"],
)
def test_a_name_the_pair_cannot_free_is_refused_in_one_line(
    scratch: Scratch, before: MetaData, after: MetaData, refusal: str
) -> None:
    scratch.revise(before, message="add the library")
    scratch.upgrade(before)
    known = scratch.new_revisions()

    with pytest.raises(HintError) as refused:
        scratch.revise(after, "rename=book.title:heading", "rename_mode=expand")
    [line] = str(refused.value).splitlines()
    assert line.startswith("-x rename_mode=expand (rename=book.title:heading): ")
    assert refusal in line
    assert scratch.new_revisions() == known
