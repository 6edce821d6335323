"""What `alembic-toolkit lint` prints: the findings and one summary, or one line saying why not."""

import subprocess
from pathlib import Path

import pytest
from toolkit_support import run_module

INDEX_REVISION = (
    "from alembic import op\n\nrevision = 'a1'\ndown_revision = None\n"
    "branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n"
    "    op.create_index('ix_tag_name', 'tag', ['name'])\n\n\n"
    "def downgrade() -> None:\n    op.drop_index('ix_tag_name', 'tag')\n"
)


def toolkit(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`alembic-toolkit <args>` in its own process, started in `folder`."""
    return run_module(folder, "alembic_toolkit", *args)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A stock `alembic init` project (generic template) with one revision squawk flags."""
    assert toolkit(tmp_path, "init", "migrations").returncode == 0
    ini = tmp_path / "alembic.ini"
    # Offline SQL needs only the dialect: nothing connects.
    ini.write_text(
        ini.read_text().replace("driver://user:pass@localhost/dbname", "postgresql://nobody@/x")
    )
    for number in range(3):
        revision = INDEX_REVISION.replace("a1", f"a{number}").replace(
            "down_revision = None", f"down_revision = {f'a{number - 1}' if number else None!r}"
        )
        (tmp_path / "migrations" / "versions" / f"a{number}_index.py").write_text(revision)
    return tmp_path


def test_lint_prints_only_the_findings_and_the_summary(project: Path) -> None:
    result = toolkit(project, "lint")
    assert result.returncode == 1, result.stdout + result.stderr
    # env.py's logging announces each revision's offline run at INFO: none of it shows.
    assert result.stderr == ""
    *found, last = result.stdout.splitlines()
    assert all(" (upgrade SQL) " in line for line in found), found
    assert last.startswith(f"FAILED: squawk: {len(found)} finding(s)")


@pytest.mark.parametrize(
    ("first_line", "error"),
    [
        ("from app import models  # noqa\n", "ModuleNotFoundError: No module named 'app')"),
        ("def broken(:\n", "SyntaxError: "),
    ],
    ids=["does-not-import", "does-not-parse"],
)
def test_an_env_py_that_cannot_load_is_one_line_not_a_finding_per_revision(
    project: Path, first_line: str, error: str
) -> None:
    env_py = project / "migrations" / "env.py"
    env_py.write_text(first_line + env_py.read_text())
    result = toolkit(project, "lint")
    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert line.startswith(f"FAILED: migrations/env.py failed ({error}"), line
    assert line.endswith(
        ", so no revision can be linted: run alembic-toolkit where env.py's imports work (the "
        "project's folder and virtual environment), or fix env.py"
    ), line
    assert "Traceback" not in result.stderr


def test_a_revision_failing_offline_is_still_named_on_its_own(project: Path) -> None:
    broken = project / "migrations" / "versions" / "a1_index.py"
    broken.write_text(
        broken.read_text().replace(
            "    op.create_index(",
            "    raise RuntimeError('needs a database')\n    op.create_index(",
        )
    )
    result = toolkit(project, "lint")
    assert result.returncode == 1
    [offline] = [line for line in result.stdout.splitlines() if "offline mode" in line]
    assert offline.startswith("migrations/versions/a1_index.py: its upgrade cannot be written")


def first_table(key: str) -> str:
    """A revision creating a table as autogenerate writes the model's `id` column `key`."""
    return (
        "import sqlalchemy as sa\nfrom alembic import op\n\nrevision = 't1'\n"
        "down_revision = None\nbranch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n    op.create_table(\n        'users',\n"
        f"        {key},\n        sa.Column('name', sa.Text(), nullable=False),\n"
        "        sa.PrimaryKeyConstraint('id'),\n    )\n\n\n"
        "def downgrade() -> None:\n    op.drop_table('users')\n"
    )


# `id: Mapped[int] = mapped_column(primary_key=True)`, as autogenerate writes it.
TUTORIAL_KEY = "sa.Column('id', sa.Integer(), nullable=False)"
# The change the lint names: BigInteger and Identity().
IDENTITY_KEY = "sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False)"


@pytest.mark.parametrize("key", [TUTORIAL_KEY, IDENTITY_KEY])
def test_an_integer_key_s_findings_name_the_column_and_the_model_change(
    project: Path, key: str
) -> None:
    versions = project / "migrations" / "versions"
    for old in versions.glob("*.py"):
        old.unlink()
    (versions / "t1_users.py").write_text(first_table(key))
    result = toolkit(project, "lint")
    keyed = [
        line
        for line in result.stdout.splitlines()
        if "prefer-bigint-over-int" in line or "prefer-identity" in line
    ]
    if key == IDENTITY_KEY:
        assert keyed == [], result.stdout  # the change named is the change that passes
        return
    assert len(keyed) == 2, result.stdout
    bigint, identity = sorted(keyed)
    assert bigint.endswith(
        "-> users.id: make it BigInteger in the model (for a key: mapped_column(BigInteger, "
        "Identity(), primary_key=True)), or exclude the rule in .squawk.toml saying why 32 "
        "bits are enough"
    )
    assert "-> users.id: add Identity() to it in the model" in identity
