"""What the toolkit's guard reads and how it reports: computed names, kinds, its --help."""

import textwrap
from pathlib import Path

import pytest
from alembic_toolkit.cli import main
from alembic_toolkit.review.destructive import findings

REVISION = """\
import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = {labels!r}
depends_on = {depends!r}


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
    pass
"""


def write(folder: Path, revision: str, upgrade: str, **heads: object) -> Path:
    path = folder / "versions" / f"{revision}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        REVISION.format(
            revision=revision,
            down=heads.get("down"),
            labels=heads.get("labels"),
            depends=heads.get("depends"),
            upgrade=textwrap.indent(textwrap.dedent(upgrade).strip(), "    "),
        )
    )
    return path


def run_guard(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[object, list[str]]:
    ini = folder / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {folder}\n")
    (folder / "script.py.mako").write_text("")
    code: object = None
    try:
        main(["-c", str(ini), "guard"])
    except SystemExit as exited:
        code = exited.code
    return code, capsys.readouterr().out.splitlines()


@pytest.mark.parametrize(
    "upgrade",
    [
        'for c in ["a", "b"]:\n    op.drop_column("users", c)',
        'for t in ["a", "b"]:\n    op.drop_table(t)',
        'for t in ["a", "b"]:\n    op.drop_column(t, "c")',
        'with op.batch_alter_table(name) as batch_op:\n    batch_op.drop_column("c")',
    ],
)
def test_a_name_computed_at_run_time_is_unreadable_not_a_column(
    tmp_path: Path, upgrade: str
) -> None:
    [finding] = findings(write(tmp_path, "r1", upgrade))
    assert "which the guard could not read" in finding.what, finding.what
    assert "users.c" not in finding.what


def test_the_summary_names_each_kind_and_only_data_loss_is_destructive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "trunk", "pass")
    write(tmp_path, "expand0", "pass", down="trunk", labels="expand")
    write(tmp_path, "contract0", "pass", down="trunk", labels="contract")
    write(
        tmp_path,
        "rename",
        'op.alter_column("org", "name", new_column_name="title")',
        down="expand0",
    )
    write(tmp_path, "nodeps", "pass", down="contract0")
    write(tmp_path, "drop", 'op.drop_table("tag")', down="nodeps", depends="expand0")
    code, lines = run_guard(tmp_path, capsys)
    assert code == 1
    assert lines[-1] == (
        "FAILED: 1 destructive change(s) without a reason; 1 contract revision(s) naming no "
        "expand revision in depends_on; 1 change(s) the expand branch does not allow: do as "
        "each line above says, then run the guard again"
    )


@pytest.mark.parametrize(("command", "says"), [("guard", "destroys_data"), ("lint", "squawk")])
def test_each_command_describes_itself(
    capsys: pytest.CaptureFixture[str], command: str, says: str
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert says in text
    assert "Exit 0" in text
