"""The revision-history diagram: branches, merges, labels, heads and the database's revision."""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import hypothesis
import pytest
from alembic.script import ScriptDirectory
from hypothesis import strategies as st

from alembic_stuff.db.history_graph import history_mermaid
from alembic_stuff.db.migrations import alembic_config, current_revisions
from alembic_stuff.settings import Settings
from tests.databases import ROOT, copy_migration_environment

SCRIPT = ScriptDirectory.from_config(alembic_config())
EXPAND_HEAD, CONTRACT_HEAD = (
    SCRIPT.get_revisions(f"{label}@head")[0].revision for label in ("expand", "contract")
)


def branch_root(label: str) -> str:
    """The first revision of a branch: where it leaves the trunk, whatever it has grown since."""
    [revision] = SCRIPT.get_revisions(f"{label}@head")
    assert revision is not None
    while True:
        down = revision.down_revision
        parent = SCRIPT.get_revision(down) if isinstance(down, str) else None
        if parent is None or label not in parent.branch_labels:
            return revision.revision
        revision = parent


def add_revision(
    project: Path,
    revision: str,
    down: str | tuple[str, ...] | None,
    message: str,
    *,
    labels: tuple[str, ...] = (),
    depends_on: str | None = None,
) -> None:
    (project / "alembic" / "versions" / f"2099_01_01_0000-{revision}_x.py").write_text(
        f'"""{message}"""\n\n'
        f"revision = {revision!r}\n"
        f"down_revision = {down!r}\n"
        f"branch_labels = {labels or None!r}\n"
        f"depends_on = {depends_on!r}\n\n\n"
        "def upgrade() -> None:\n    pass\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )


@pytest.fixture
def branched(tmp_path: Path) -> ScriptDirectory:
    """The project's history, a revision on each of its expand and contract branches, a merge."""
    project = copy_migration_environment(tmp_path)
    add_revision(project, "aaaa00000001", EXPAND_HEAD, "Add the capital column")
    add_revision(project, "bbbb00000002", CONTRACT_HEAD, 'Drop "legacy" <columns>')
    add_revision(project, "cccc00000003", ("aaaa00000001", "bbbb00000002"), "Merge the branches")
    add_revision(
        project, "dddd00000004", "cccc00000003", "Fill the capitals", depends_on="aaaa00000001"
    )
    return ScriptDirectory.from_config(alembic_config(ini_path=project / "alembic.ini"))


def test_the_graph_shows_branches_merges_labels_and_the_head(branched: ScriptDirectory) -> None:
    graph = history_mermaid(branched)
    lines = graph.splitlines()
    assert lines[0] == "flowchart TB"
    expand_root, contract_root = branch_root("expand"), branch_root("contract")
    found = SCRIPT.get_revision(expand_root)
    assert found is not None
    trunk = found.down_revision
    assert f"  r_{trunk} --> r_{expand_root}" in lines
    assert f"  r_{trunk} --> r_{contract_root}" in lines  # the branch point: two arrows out
    assert f"  r_{EXPAND_HEAD} --> r_aaaa00000001" in lines
    assert f"  r_{CONTRACT_HEAD} --> r_bbbb00000002" in lines
    assert "  r_aaaa00000001 --> r_cccc00000003" in lines  # the merge: two arrows in
    assert "  r_bbbb00000002 --> r_cccc00000003" in lines
    assert "  r_aaaa00000001 -. depends on .-> r_dddd00000004" in lines
    assert "<i>branch: expand</i>" in graph
    assert "<i>branch: contract</i>" in graph
    assert "Merge the branches<br/><i>merge</i>" in graph
    # Quotes and angle brackets in a message must not end the label or read as HTML.
    assert "Drop #quot;legacy#quot; #lt;columns#gt;" in graph
    assert "  class r_dddd00000004 head" in lines
    assert "class r_dddd00000004 current" not in graph


def test_the_graph_is_the_same_every_time_and_marks_the_database(branched: ScriptDirectory) -> None:
    assert history_mermaid(branched) == history_mermaid(branched)
    marked = history_mermaid(branched, ["bbbb00000002"])
    assert "  class r_bbbb00000002 current" in marked.splitlines()
    # A revision the history lacks is not drawn as if it were there.
    assert "current" not in history_mermaid(branched, ["c0934a74c077"]).split("classDef current")[1]


def diagrams(
    *options: str, project: Path = ROOT, **environment: str
) -> subprocess.CompletedProcess[str]:
    """scripts/diagrams.py on `project`, with `environment` added to the tests' own."""
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "diagrams.py"),
            "--project",
            str(project),
            *options,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **environment},
    )


def test_the_readme_diagrams_are_current_and_the_check_fails_when_stale(tmp_path: Path) -> None:
    assert diagrams("--check").returncode == 0

    project = copy_migration_environment(tmp_path)
    (project / "README.md").write_text((ROOT / "README.md").read_text())
    add_revision(
        project, "eeee00000005", EXPAND_HEAD, "A new revision the README does not show yet"
    )
    stale = diagrams("--check", project=project)
    assert stale.returncode == 1
    assert "stale: run `pipenv run diagrams`" in stale.stderr
    assert "+  r_eeee00000005[" in stale.stderr  # the diff names what is missing

    assert diagrams(project=project).returncode == 0
    redrawn = (project / "README.md").read_text()
    assert "A new revision the README does not show yet" in redrawn
    # Only the diagram changed: everything else is the README as it was.
    assert re.sub(r"```mermaid\n.*?```", "", redrawn, flags=re.DOTALL) == re.sub(
        r"```mermaid\n.*?```", "", (ROOT / "README.md").read_text(), flags=re.DOTALL
    )


def test_current_marks_the_database_revision(settings: Settings) -> None:
    assert settings.database_url is not None
    result = diagrams("--current", DATABASE_URL=settings.database_url.get_secret_value())
    assert result.returncode == 0, result.stderr
    # Alembic's rows: both heads, or one where a revision depends on the other's branch.
    heads = ",".join(f"r_{head}" for head in current_revisions(settings))
    marked = f"  class {heads} current"
    assert marked in result.stdout.splitlines()


def test_current_without_a_database_marks_nothing() -> None:
    result = diagrams("--current")  # the tests' DATABASE_URL leads nowhere
    assert result.returncode == 0, result.stderr
    assert "the database is unreachable: no revision marked" in result.stderr
    assert " current\n" not in result.stdout.split("classDef current")[1]


def test_current_with_an_invalid_database_url_is_one_line() -> None:
    result = diagrams("--current", DATABASE_URL="garbage")
    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid setting (DATABASE_URL: ")
    assert "Traceback" not in result.stderr


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, tuple[str, ...]]]:
    """Revisions in order, each on one earlier revision, or two (a merge), or none (a root)."""
    count = draw(st.integers(min_value=1, max_value=7))
    revisions: list[tuple[str, tuple[str, ...]]] = []
    for index in range(count):
        earlier = [name for name, _ in revisions]
        parents: tuple[str, ...] = ()
        if earlier:
            size = draw(st.integers(min_value=1, max_value=min(2, len(earlier))))
            parents = tuple(
                draw(st.lists(st.sampled_from(earlier), min_size=size, max_size=size, unique=True))
            )
        revisions.append((f"{index:04d}abcdef{index:02d}", parents))
    return revisions


@hypothesis.settings(max_examples=20, derandomize=True, deadline=None)
@hypothesis.given(histories())
def test_any_history_draws_one_node_per_revision_and_one_arrow_per_parent(
    history: list[tuple[str, tuple[str, ...]]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = copy_migration_environment(Path(folder))
        for path in (project / "alembic" / "versions").glob("*.py"):
            path.unlink()
        for name, parents in history:
            down = None if not parents else parents[0] if len(parents) == 1 else parents
            add_revision(project, name, down, f"revision {name}")
        script = ScriptDirectory.from_config(alembic_config(ini_path=project / "alembic.ini"))
        graph = history_mermaid(script)

    lines = graph.splitlines()
    nodes = [line for line in lines if re.match(r"  r_\w+\[", line)]
    assert len(nodes) == len(history)
    arrows = {line.strip() for line in lines if " --> " in line}
    expected = {
        f"{'base' if not parents else f'r_{parent}'} --> r_{name}"
        for name, parents in history
        for parent in (parents or ("base",))
    }
    assert arrows == expected
    children = {parent for _, parents in history for parent in parents}
    heads = sorted(f"r_{name}" for name, _ in history if name not in children)
    assert f"  class {','.join(heads)} head" in lines
