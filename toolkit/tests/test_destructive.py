"""The destructive-change guard on revisions made to pass or fail it, on either branch."""

import textwrap
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from alembic_toolkit.release_module import release_of
from alembic_toolkit.review.destructive import findings, placements, problems
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def revision(tmp_path: Path, upgrade: str, downgrade: str = "pass", marker: str = "") -> Path:
    path = tmp_path / "2026_01_01_0000-abc_change.py"
    path.write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        + marker
        + "\n\ndef upgrade() -> None:\n"
        + textwrap.indent(textwrap.dedent(upgrade).strip(), "    ")
        + "\n\n\ndef downgrade() -> None:\n"
        + textwrap.indent(textwrap.dedent(downgrade).strip(), "    ")
        + "\n"
    )
    return path


@pytest.mark.parametrize(
    ("upgrade", "downgrade"),
    [
        ('op.add_column("city", sa.Column("zip", sa.String(8)))', 'op.drop_column("city", "zip")'),
        ('op.create_table("city", sa.Column("id", sa.Integer))', 'op.drop_table("city")'),
        (
            'op.create_table("city", sa.Column("id", sa.Integer))',
            'op.drop_column("city", "id")\nop.drop_table("city")',
        ),
        (
            """
            with op.batch_alter_table("city") as batch_op:
                batch_op.add_column(sa.Column("zip", sa.String(8)))
            """,
            """
            with op.batch_alter_table("city") as batch_op:
                batch_op.drop_column("zip")
            """,
        ),
    ],
)
def test_a_downgrade_undoing_its_own_upgrade_is_not_destructive(
    tmp_path: Path, upgrade: str, downgrade: str
) -> None:
    assert list(problems([revision(tmp_path, upgrade, downgrade)])) == []


def test_a_downgrade_dropping_what_existed_before_still_needs_a_reason(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        'op.add_column("city", sa.Column("zip", sa.String(8)))',
        'op.drop_column("city", "zip")\nop.drop_column("city", "name")\nop.drop_table("town")',
    )
    assert [f.key for f in findings(path)] == [
        "downgrade: drop_column city.name",
        "downgrade: drop_table town",
    ]


def test_an_unacknowledged_drop_is_named_with_the_fix(tmp_path: Path) -> None:
    path = revision(tmp_path, 'op.drop_column("country", "official_name")')
    assert list(problems([path])) == [
        f"{path}:7: upgrade() drops column country.official_name and its values; if that is "
        "intended, add to the revision: destroys_data = "
        '{"upgrade: drop_column country.official_name": "<why this is safe>"}'
    ]


def test_an_acknowledged_drop_passes(tmp_path: Path) -> None:
    marker = 'destroys_data = {"upgrade: drop_table legacy": "emptied and archived in 2025"}'
    assert list(problems([revision(tmp_path, 'op.drop_table("legacy")', marker=marker)])) == []


@pytest.mark.parametrize("reason", ["", "TODO", "todo: later", "<why this is safe>"])
def test_a_placeholder_reason_is_refused(tmp_path: Path, reason: str) -> None:
    marker = f'destroys_data = {{"upgrade: drop_table legacy": "{reason}"}}'
    [problem] = problems([revision(tmp_path, 'op.drop_table("legacy")', marker=marker)])
    assert "needs a reason" in problem


def test_a_stale_acknowledgment_is_refused(tmp_path: Path) -> None:
    marker = 'destroys_data = {"upgrade: drop_table legacy": "archived"}'
    [problem] = problems(
        [revision(tmp_path, 'op.add_column("t", sa.Column("x", sa.Text()))', marker=marker)]
    )
    assert "acknowledges 'upgrade: drop_table legacy', which the revision does not do" in problem


@pytest.mark.parametrize(
    ("change", "narrows"),
    [
        ("type_=sa.String(length=50), existing_type=sa.String(length=100)", True),
        ("type_=sa.String(100), existing_type=sa.String(50)", False),
        ("type_=sa.String(10), existing_type=sa.Text()", True),
        ("type_=sa.Text(), existing_type=sa.VARCHAR(length=10)", False),
        ("type_=sa.Integer(), existing_type=sa.BigInteger()", True),
        ("type_=sa.BigInteger(), existing_type=sa.Integer()", False),
        ("type_=sa.Numeric(8, 2), existing_type=sa.Numeric(10, 2)", True),
        ("type_=sa.Numeric(12, 4), existing_type=sa.Numeric(10, 2)", False),
        ("type_=sa.Integer(), existing_type=sa.String(10)", True),
        ("type_=sa.String(10)", True),  # no existing_type: it cannot tell, so it asks
        ("nullable=True, existing_type=sa.String(10)", False),
    ],
)
def test_narrowing_type_changes(tmp_path: Path, change: str, narrows: bool) -> None:
    path = revision(tmp_path, f'op.alter_column("t", "c", {change})')
    assert [f.key for f in findings(path)] == (["upgrade: narrow_type t.c"] if narrows else [])


def test_downgrades_batches_and_raw_sql_are_read(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        upgrade="""
        with op.batch_alter_table("country") as batch_op:
            batch_op.drop_column("capital")
        op.execute("TRUNCATE audit_log")
        op.execute(sa.text("DELETE FROM country WHERE code = 'XK'"))
        op.execute(sa.text("UPDATE country SET common_name = 'x'"))
        """,
        downgrade='op.drop_table("country_history")',
    )
    assert [f.key for f in findings(path)] == [
        "upgrade: drop_column country.capital",
        "upgrade: execute TRUNCATE",
        "upgrade: execute DELETE FROM",
        "downgrade: drop_table country_history",
    ]


def branch_history(folder: Path, upgrade: str, branch: str, depends_on: bool = True) -> Path:
    """A history with expand and contract roots, and one revision on `branch` doing `upgrade`."""
    (folder / "versions").mkdir(parents=True)
    (folder / "script.py.mako").write_text("")

    def write(
        name: str, down: str | None, labels: str | None, body: str, depends: str | None
    ) -> Path:
        path = folder / "versions" / f"{name}.py"
        path.write_text(
            "import sqlalchemy as sa\nfrom alembic import op\n\n"
            f"revision = {name!r}\ndown_revision = {down!r}\n"
            f"branch_labels = {labels!r}\ndepends_on = {depends!r}\n\n\n"
            f"def upgrade() -> None:\n    {body}\n\n\ndef downgrade() -> None:\n    pass\n"
        )
        return path

    write("trunk", None, None, "pass", None)
    write("expand0", "trunk", "expand", "pass", None)
    write("contract0", "trunk", "contract", "pass", None)
    parent = "expand0" if branch == "expand" else "contract0"
    return write(
        "change", parent, None, upgrade, "expand0" if depends_on and branch == "contract" else None
    )


def placed_problems(folder: Path, path: Path) -> list[str]:
    script = ScriptDirectory(str(folder))
    return list(problems([path], placements(script)))


DESTRUCTIVE_OR_RENAMING = [
    'op.drop_column("country", "official_name")',
    'op.drop_table("country")',
    'op.alter_column("country", "code", type_=sa.String(1), existing_type=sa.String(2))',
    'op.execute("DROP TABLE country")',
    'op.rename_table("country", "nation")',
    'op.alter_column("country", "common_name", new_column_name="display_name")',
    'op.execute("ALTER TABLE country RENAME COLUMN common_name TO display_name")',
    'op.execute(sa.text("ALTER TABLE country RENAME TO nation"))',
]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    change=st.sampled_from(DESTRUCTIVE_OR_RENAMING),
    acknowledged=st.booleans(),
)
def test_an_expand_revision_may_not_drop_narrow_or_rename_even_acknowledged(
    tmp_path_factory: pytest.TempPathFactory, change: str, acknowledged: bool
) -> None:
    folder = tmp_path_factory.mktemp("history")
    path = branch_history(folder, change, "expand")
    if acknowledged:  # a reason makes a drop acceptable elsewhere, never on the expand branch
        for finding in findings(path):
            path.write_text(
                path.read_text() + f"\ndestroys_data = {{{finding.key!r}: 'moved to city'}}\n"
            )
    found = placed_problems(folder, path)
    refused = [line for line in found if "on the expand branch" in line]
    assert len(refused) == 1, found
    assert (
        'move it to a contract revision (`alembic revision -m "..." --head contract@head '
        "--depends-on expand@head`)" in refused[0]
    )
    # The same change as a contract revision is judged by the acknowledgment alone.
    contract_folder = tmp_path_factory.mktemp("history")
    contract_path = branch_history(contract_folder, change, "contract")
    contract_found = placed_problems(contract_folder, contract_path)
    assert not [line for line in contract_found if "expand branch" in line]
    assert len(contract_found) == len(findings(contract_path))


def test_an_additive_expand_revision_passes(tmp_path: Path) -> None:
    path = branch_history(
        tmp_path, 'op.add_column("country", sa.Column("capital", sa.Text))', "expand"
    )
    assert placed_problems(tmp_path, path) == []


def test_a_contract_revision_must_name_its_expand(tmp_path: Path) -> None:
    path = branch_history(tmp_path, "pass", "contract", depends_on=False)
    [problem] = placed_problems(tmp_path, path)
    assert "a contract revision must name in depends_on the expand revision" in problem


@pytest.mark.parametrize(
    ("change", "needed"),
    [
        ('op.rename_table("country", "nation")', True),
        ('op.alter_column("country", "common_name", new_column_name="display_name")', True),
        ('op.execute("ALTER TABLE country RENAME COLUMN common_name TO display_name")', True),
        ('op.execute(sa.text("alter table country rename to nation"))', True),
        ('op.execute("ALTER TABLE country RENAME CONSTRAINT a TO b")', False),
        ('op.drop_column("country", "official_name")', False),
    ],
)
def test_a_release_needs_the_contract_revisions_that_rename_tables_or_columns(
    tmp_path: Path, change: str, needed: bool
) -> None:
    # Its code uses the new name, which exists only once that revision is applied.
    branch_history(tmp_path, change, "contract")
    release = release_of(ScriptDirectory(str(tmp_path)))
    assert release.needs == ({"change"} if needed else set())
