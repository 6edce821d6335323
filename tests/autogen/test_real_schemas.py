"""Rename-aware autogenerate on schemas beyond the one-table country model.

Cities belong to countries and addresses to cities: a new table with an index and foreign
keys, table and column renames that other tables' foreign keys point at, swaps, and the
names the naming convention gives every constraint and index. Each generated revision is
applied to a database holding rows, checked against the models, and undone.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.util import CommandError
from alembic_toolkit.autogen.names import name_drift
from alembic_toolkit.checks import schema
from alembic_toolkit.review import destructive, squawk
from sqlalchemy import Engine, MetaData, inspect

from alembic_stuff.db.base import NAMING_CONVENTION, Base
from alembic_stuff.models import Country
from tests.databases import Scratch, unused_column


def world(
    *,
    city: str = "city",
    city_key: str = "id",
    city_name: str = "name",
    country_code: str = "country_code",
    lines: tuple[str, str] = ("line_1", "line_2"),
    addresses: bool = True,
    added: str | None = None,
) -> MetaData:
    """Countries (the project's model, with a nullable column `added`), cities and addresses."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    country = Base.metadata.tables[Country.__tablename__].to_metadata(metadata)
    if added is not None:
        country.append_column(sa.Column(added, sa.String(100), nullable=True))
    sa.Table(
        city,
        metadata,
        sa.Column(city_key, sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("code", sa.String(8), nullable=False, unique=True),
        sa.Column(city_name, sa.String(100), nullable=False, index=True),
        sa.Column(country_code, sa.String(2), sa.ForeignKey("country.code"), nullable=False),
    )
    if addresses:
        sa.Table(
            "address",
            metadata,
            sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
            sa.Column("city_id", sa.BigInteger, sa.ForeignKey(f"{city}.{city_key}"), index=True),
            sa.Column(lines[0], sa.String(200), nullable=False),
            sa.Column(lines[1], sa.String(200), nullable=True),
        )
    return metadata


@pytest.fixture
def cities(scratch: Scratch, engine: Engine) -> MetaData:
    """The database with the world's tables (generated like any user's), holding rows."""
    model = world()
    scratch.generate(model)
    scratch.upgrade(model)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO country VALUES ('FR', 'France', 'FRA', '250', NULL)")
        )
        connection.execute(
            sa.text(
                "INSERT INTO city (code, name, country_code) VALUES "
                "('PAR', 'Paris', 'FR'), ('LYS', 'Lyon', 'FR')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO address (city_id, line_1, line_2) VALUES "
                "(1, '1 rue de Rivoli', 'Louvre'), (2, '2 place Bellecour', NULL)"
            )
        )
    return model


def rows(engine: Engine, query: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(query))]


def names(engine: Engine, table: str) -> set[str]:
    inspector = inspect(engine)
    return (
        {str(inspector.get_pk_constraint(table)["name"])}
        | {str(fk["name"]) for fk in inspector.get_foreign_keys(table)}
        | {str(uq["name"]) for uq in inspector.get_unique_constraints(table)}
        | {str(ix["name"]) for ix in inspector.get_indexes(table)}
    )


def drift(engine: Engine, model: MetaData) -> list[str]:
    return name_drift(inspect(engine), model)


# How autogenerate alone writes a rename: a drop and a re-create, losing what was there.
RECREATES = (
    "drop_table",
    "create_table",
    "drop_column",
    "add_column",
    "drop_index",
    "create_index",
    "drop_constraint",
    "create_foreign_key",
    "create_unique_constraint",
)


def renamed(scratch: Scratch, *hints: str, **changes: Any) -> tuple[MetaData, str]:
    """The world with `changes`, and the revision generated for it with the rename `hints`.

    Fails if the revision drops or re-creates anything: each rename must be done in place.
    """
    model = world(**changes)
    source = scratch.generate(model, *hints)
    assert [op for op in RECREATES if f"op.{op}(" in source] == [], source
    return model, source


def assert_passes_review(scratch: Scratch, source_of: Path) -> None:
    """The revision passes what `pipenv run qa` runs on revisions, as generated."""
    assert list(destructive.problems([source_of])) == []
    assert list(squawk.lint(scratch.config(MetaData()))) == []
    for check in (["check"], ["format", "--check"]):
        result = subprocess.run(  # in the copy, so that its pyproject.toml applies as it is
            [sys.executable, "-m", "ruff", *check, str(source_of)],
            cwd=scratch.folder,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def assert_no_change(scratch: Scratch, model: MetaData) -> None:
    """Autogenerate finds nothing more to do for `model`: it writes no revision."""
    before = scratch.revisions()
    with pytest.raises(ValueError, match="not enough values"):
        scratch.generate(model)  # Scratch.generate unpacks the one new revision
    assert scratch.revisions() == before


def apply_and_undo(scratch: Scratch, engine: Engine, model: MetaData, before: MetaData) -> None:
    """Upgrade: nothing left for autogenerate and names as the models give them; then undo."""
    shape = schema(engine)
    scratch.upgrade(model)
    scratch.check(model)
    assert drift(engine, model) == []
    scratch.downgrade(model)
    assert schema(engine) == shape
    assert drift(engine, before) == []
    scratch.upgrade(model)


def test_a_new_table_with_an_index_and_foreign_keys(scratch: Scratch, engine: Engine) -> None:
    model = world()
    source = scratch.generate(model)
    assert 'op.create_index(op.f("ix_city_name")' in source
    assert "rename" not in source
    [revision] = scratch.new_revisions()
    assert_passes_review(scratch, revision)
    scratch.upgrade(model)
    scratch.check(model)
    assert drift(engine, model) == []
    assert names(engine, "city") == {
        "pk_city",
        "uq_city_code",
        "ix_city_name",
        "fk_city_country_code_country",
    }
    scratch.downgrade(model)
    assert set(inspect(engine).get_table_names()) == {"alembic_version", "country"}


def test_renaming_a_table_keeps_its_rows_indexes_and_the_foreign_keys_to_it(
    scratch: Scratch, engine: Engine, cities: MetaData
) -> None:
    model, source = renamed(scratch, "rename=city:town", city="town")
    assert 'op.rename_table("city", "town")' in source
    [revision] = scratch.new_revisions()[-1:]
    assert_passes_review(scratch, revision)

    apply_and_undo(scratch, engine, model, cities)
    assert rows(engine, "SELECT id, code, name FROM town ORDER BY id") == [
        (1, "PAR", "Paris"),
        (2, "LYS", "Lyon"),
    ]
    assert names(engine, "town") == {
        "pk_town",
        "uq_town_code",
        "ix_town_name",
        "fk_town_country_code_country",
    }
    assert "fk_address_city_id_town" in names(engine, "address")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO address (city_id, line_1) VALUES (99, 'x')"))


def test_renaming_a_column_that_a_foreign_key_points_at(
    scratch: Scratch, engine: Engine, cities: MetaData
) -> None:
    model, source = renamed(scratch, "rename=city.id:city_id", city_key="city_id")
    assert '"city", "id", existing_type=sa.BIGINT(), new_column_name="city_id"' in source

    apply_and_undo(scratch, engine, model, cities)
    assert rows(engine, "SELECT a.line_1 FROM address a JOIN city c ON c.city_id = a.city_id") == [
        ("1 rue de Rivoli",),
        ("2 place Bellecour",),
    ]


def test_renaming_a_column_with_a_foreign_key_renames_the_constraint(
    scratch: Scratch, engine: Engine, cities: MetaData
) -> None:
    model, source = renamed(scratch, "rename=city.country_code:country", country_code="country")
    assert (
        'op.rename_constraint("city", "fk_city_country_code_country", "fk_city_country_country")'
        in source
    )
    apply_and_undo(scratch, engine, model, cities)


def test_a_name_that_drifted_from_the_convention_is_reported(
    engine: Engine, cities: MetaData, scratch: Scratch
) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.text("ALTER TABLE city RENAME CONSTRAINT fk_city_country_code_country TO legacy")
        )
    scratch.check(cities)  # Alembic itself does not compare foreign key names
    assert drift(engine, cities) == [
        "foreign key on city (country_code) is named legacy; "
        "the models name it fk_city_country_code_country"
    ]
    source = scratch.generate(cities)
    assert 'op.rename_constraint("city", "legacy", "fk_city_country_code_country")' in source


def test_hints_in_several_x_options_all_count(
    scratch: Scratch, engine: Engine, cities: MetaData
) -> None:
    model, source = renamed(
        scratch, "rename=city:town", "rename=town.name:title", city="town", city_name="title"
    )
    assert 'op.rename_table("city", "town")' in source
    assert 'new_column_name="title"' in source
    apply_and_undo(scratch, engine, model, cities)
    assert rows(engine, "SELECT title FROM town ORDER BY id") == [("Paris",), ("Lyon",)]


def test_swapping_two_columns_of_the_same_type(
    scratch: Scratch, engine: Engine, cities: MetaData
) -> None:
    # line_1 is NOT NULL and line_2 nullable: autogenerate alone sees only two nullability
    # changes, and every value would stay under the wrong name.
    model, _ = renamed(
        scratch, "rename=address.line_1:line_2,address.line_2:line_1", lines=("line_2", "line_1")
    )
    apply_and_undo(scratch, engine, model, cities)
    assert rows(engine, "SELECT line_2, line_1 FROM address ORDER BY id") == [
        ("1 rue de Rivoli", "Louvre"),
        ("2 place Bellecour", None),
    ]


def test_an_added_column_passes_review_as_generated(
    scratch: Scratch, engine: Engine, cities: MetaData
) -> None:
    model = world(added=unused_column("capital"))
    scratch.generate(model)
    assert_passes_review(scratch, scratch.new_revisions()[-1])
    apply_and_undo(scratch, engine, model, cities)


def test_a_rename_passes_review_as_generated_and_says_what_it_assumes(
    scratch: Scratch, engine: Engine, cities: MetaData
) -> None:
    _, source = renamed(scratch, "rename=city:town,town.name:title", city="town", city_name="title")
    assert "squawk_accepts = {" in source
    assert (
        '"renaming-column": (\n        "generated rename: assumes the app and this schema are'
        in (source)
    )
    assert_passes_review(scratch, scratch.new_revisions()[-1])


def test_no_change_writes_no_revision(
    scratch: Scratch, cities: MetaData, caplog: pytest.LogCaptureFixture
) -> None:
    before = scratch.revisions()
    with caplog.at_level("WARNING"):
        scratch.revise(cities, message="nothing")
    assert scratch.revisions() == before
    assert "no changes detected" in caplog.text


@pytest.mark.parametrize(
    ("hints", "message"),
    [
        (("rename=nowhere:town",), "-x rename=nowhere:town: the database has no table nowhere"),
        (("rename=city:nowhere",), "-x rename=city:nowhere: the models have no table nowhere"),
        (
            ("rename=city.nothing:title",),
            "-x rename=city.nothing:title: the database's table city has no column nothing",
        ),
        (
            ("rename=city.name:nothing",),
            "-x rename=city.name:nothing: the models' table city has no column nothing",
        ),
        (
            ("rename=city.code:title",),
            "-x rename=city.code:title: city.code is still in the models",
        ),
        (("allow_drop=city.code",), "-x allow_drop=city.code: nothing of that name is dropped"),
        (("rename",), "-x rename: write -x rename=table.old:new"),
        (("renmae=city:town",), "-x renmae=city:town: write -x rename=table.old:new"),
        (("rename=city:town.x",), "-x rename=city:town.x: write -x rename=table.old:new"),
        (("rename=a:b", "rename=a:c"), "-x rename=a:c: already renamed to b by another hint"),
        (("rename=city:city",), "-x rename=city:city: renames city to itself"),
        (("rename=city.id:id",), "-x rename=city.id:id: renames id to itself"),
        (
            ("rename=city.name:title,city.code:title",),
            "-x rename=city.code:title: another hint already renames something to title",
        ),
    ],
)
def test_a_bad_hint_gets_one_line_naming_it_and_no_file(
    scratch: Scratch, cities: MetaData, hints: tuple[str, ...], message: str
) -> None:
    before = scratch.revisions()
    with pytest.raises(CommandError) as refused:
        scratch.generate(world(city_name="title"), *hints)
    assert message in str(refused.value)
    assert scratch.revisions() == before


def test_the_post_write_hooks_report_nothing_for_a_long_line(
    scratch: Scratch, cities: MetaData, capfd: pytest.CaptureFixture[str]
) -> None:
    model = world()
    model.tables["country"].append_column(
        sa.Column("capital_as_written_in_the_language_of_the_country", sa.String(100))
    )
    capfd.readouterr()
    source = scratch.generate(model)
    assert "capital_as_written_in_the_language_of_the_country" in source
    assert "E501" not in capfd.readouterr().out  # formatted before it is linted


# Cases a review found ----------------------------------------------------------------------

LONG_TABLE = "registry_of_municipal_administrative_subdivisions"


def test_names_past_the_length_limit_match_the_models(
    scratch: Scratch, engine: Engine, cities: MetaData
) -> None:
    # SQLAlchemy shortens a convention name over 63 bytes with a hash; the names check and the
    # renames must compare the shortened names, or every later revision renames them again.
    model = world()
    sa.Table(
        LONG_TABLE,
        model,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("administrative_reference_code", sa.String(20), index=True, unique=True),
        sa.Column("town_id", sa.BigInteger, sa.ForeignKey("city.id"), nullable=False),
    )
    scratch.generate(model)
    scratch.upgrade(model)
    scratch.check(model)
    assert drift(engine, model) == []
    assert_no_change(scratch, model)


def test_a_partial_index_is_never_taken_for_a_plain_one(
    scratch: Scratch, engine: Engine, cities: MetaData
) -> None:
    partial = world()
    sa.Index(
        "ix_city_active", partial.tables["city"].c.code, postgresql_where=sa.text("code <> ''")
    )
    scratch.generate(partial)
    scratch.upgrade(partial)
    plain = world()
    plain.tables["city"].append_constraint(sa.Index(None, "code"))  # named ix_city_code
    source = scratch.generate(plain)
    assert "rename_index" not in source
    scratch.upgrade(plain)
    scratch.check(plain)
    with engine.connect() as connection:
        definition = connection.execute(
            sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_city_code'")
        ).scalar_one()
    assert "WHERE" not in definition


def test_one_new_name_for_columns_of_two_tables(
    scratch: Scratch, engine: Engine, cities: MetaData
) -> None:
    model, _ = renamed(
        scratch,
        "rename=city.name:title,address.line_1:title",
        city_name="title",
        lines=("title", "line_2"),
    )
    apply_and_undo(scratch, engine, model, cities)


def test_a_table_whose_name_is_a_prefix_letter_keeps_its_check(
    scratch: Scratch, engine: Engine
) -> None:
    def table_called(name: str) -> MetaData:
        model = world(addresses=False)
        sa.Table(
            name,
            model,
            sa.Column("id", sa.BigInteger, primary_key=True),
            sa.Column("qty", sa.Integer, nullable=False),
            sa.CheckConstraint("qty > 0", name="positive"),
        )
        return model

    scratch.generate(table_called("c"))
    scratch.upgrade(table_called("c"))
    source = scratch.generate(table_called("d"), "rename=c:d")
    assert 'op.rename_constraint("d", "ck_c_positive", "ck_d_positive")' in source
    assert "drop_constraint" not in source
    apply_and_undo(scratch, engine, table_called("d"), table_called("c"))


def test_a_table_in_another_schema_is_created_once(scratch: Scratch, engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE SCHEMA audit"))
    model = world(addresses=False)
    sa.Table(
        "entry",
        model,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("city_id", sa.BigInteger, sa.ForeignKey("city.id")),
        schema="audit",
    )
    assert 'schema="audit"' in scratch.generate(model)
    scratch.upgrade(model)
    scratch.check(model)
    assert_no_change(scratch, model)


def test_spaces_around_the_names_of_a_hint_are_ignored(
    scratch: Scratch, engine: Engine, cities: MetaData
) -> None:
    model, _ = renamed(scratch, "rename= city.name : title ", city_name="title")
    apply_and_undo(scratch, engine, model, cities)
