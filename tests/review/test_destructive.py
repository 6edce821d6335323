"""The destructive-change guard on the project's history, read directly and by `guard`.

The guard's own tests, on revisions made to fail it, are the toolkit's
(toolkit/tests/test_destructive.py).
"""

from pathlib import Path

from alembic.script import ScriptDirectory
from alembic_toolkit.review.destructive import findings, placements, problems

from tests.databases import ROOT, run_toolkit

VERSIONS = ROOT / "alembic" / "versions"
DROP = """from alembic import op


def upgrade() -> None:
    op.drop_table("legacy")


def downgrade() -> None:
    pass
"""


def test_the_project_history_passes() -> None:
    assert list(problems(VERSIONS.glob("*.py"))) == []


def test_the_project_destroys_nothing_that_existed_before_a_revision() -> None:
    # Its downgrades drop only what their own upgrades created; the first two revisions still
    # say what such a downgrade costs, which the guard allows.
    assert [f.key for path in VERSIONS.glob("*.py") for f in findings(path)] == []


def test_the_command_passes_the_project_and_fails_a_bad_revision(tmp_path: Path) -> None:
    ok = run_toolkit(["guard"])
    assert ok.exit_code == 0, ok.output
    assert "no unacknowledged data loss" in ok.output

    bad = tmp_path / "2026_01_01_0000-abc_change.py"
    bad.write_text(DROP)
    failed = run_toolkit(["guard", str(bad)])
    assert failed.exit_code == 1
    assert "upgrade() drops table legacy and every row in it" in failed.output
    assert "1 destructive change(s) without a reason" in failed.output


def declared_places(script: ScriptDirectory) -> dict[Path, tuple[str | None, bool]]:
    """Each revision file's (branch, root), as the files say: a root declares its label."""
    branch_of: dict[str, str | None] = {}
    places: dict[Path, tuple[str | None, bool]] = {}
    for revision in reversed(list(script.walk_revisions())):  # each after its parents
        declared = revision.module.branch_labels
        parents = revision.down_revision
        inherited = {
            branch_of[parent]
            for parent in ((parents,) if isinstance(parents, str) else parents or ())
            if branch_of[parent] is not None
        }
        if declared:
            [branch] = (declared,) if isinstance(declared, str) else declared
        else:  # after a root, on its branch
            branch = inherited.pop() if len(inherited) == 1 else None
        branch_of[revision.revision] = branch
        places[Path(revision.path).resolve()] = (branch, bool(declared))
    return places


def test_the_project_places_every_revision() -> None:
    script = ScriptDirectory(str(ROOT / "alembic"))
    placed = placements(script)
    expected = declared_places(script)
    assert set(expected) == {path.resolve() for path in VERSIONS.glob("*.py")}
    assert {path: (place.branch, place.root) for path, place in placed.items()} == expected
    # The two branches, each from one root, however many revisions are added onto them.
    assert sorted(str(branch) for branch, root in expected.values() if root) == [
        "contract",
        "expand",
    ]
    assert list(problems(VERSIONS.glob("*.py"), placed)) == []
