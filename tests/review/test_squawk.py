"""squawk's lint of every revision's upgrade SQL."""

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic_toolkit.review.squawk import lint
from sqlalchemy import URL

from alembic_stuff.db.migrations import alembic_config
from tests.databases import (
    broken_history,
    copy_migration_environment,
    run_toolkit,
    settings_for,
)

# The rules the histories here break.
RULES = ("ban-drop-column", "prefer-bigint-over-int", "require-concurrent-index-creation")
NOWHERE = settings_for(URL.create("postgresql", host="127.0.0.1", port=1, database="none"))

INDEX_REVISION = '''"""Index country names.

Revision ID: f00000000001
Revises: {head}
"""

from alembic import op

revision = "f00000000001"
down_revision = "{head}"
branch_labels = None
depends_on = None
{marker}


def upgrade() -> None:
    op.create_index("ix_country_common_name", "country", ["common_name"])


def downgrade() -> None:
    op.drop_index("ix_country_common_name")
'''


def test_the_project_history_passes_with_no_database() -> None:
    result = run_toolkit(["lint"])
    assert result.exit_code == 0, result.output
    assert "squawk finds nothing" in result.output


@pytest.fixture
def project(tmp_path: Path) -> Config:
    """A scratch copy of the migration environment."""
    ini = copy_migration_environment(tmp_path) / "alembic.ini"
    return alembic_config(NOWHERE, ini_path=ini, configure_logging=False)


def add_revision(config: Config, marker: str = "") -> Path:
    folder = Path(config.get_main_option("script_location") or "") / "versions"
    path = folder / "2026_12_01_0000-f00000000001_index_country_names.py"
    expand_head = ScriptDirectory.from_config(config).get_revision("expand@head")
    assert expand_head is not None
    path.write_text(INDEX_REVISION.format(marker=marker, head=expand_head.revision))
    return path


def test_a_blocking_index_is_found_in_its_revision(project: Config) -> None:
    path = add_revision(project)
    [finding] = lint(project)
    assert finding.startswith(f"{path} (upgrade SQL)")
    assert "require-concurrent-index-creation" in finding


def test_a_revision_can_accept_a_rule_with_a_reason(project: Config) -> None:
    add_revision(project, 'squawk_accepts = {"require-concurrent-index-creation": "tiny table"}')
    assert list(lint(project)) == []


def test_an_acceptance_needs_a_reason(project: Config) -> None:
    add_revision(project, 'squawk_accepts = {"require-concurrent-index-creation": "TODO"}')
    [finding] = lint(project)
    assert "needs a reason, not 'TODO'" in finding


def test_each_revision_is_linted_without_the_revisions_it_depends_on() -> None:
    # e1 (expand) adds an INTEGER column and indexes it, blocking writes; k1 (contract) depends
    # on e1, drops a column and accepts a blocking index for an index of its own.
    config = broken_history(alembic_config(NOWHERE, configure_logging=False), "depends_on")
    findings = list(lint(config))

    def of(revision: str) -> list[str]:
        return [f for f in findings if Path(f.partition(" ")[0]).name.startswith(revision)]

    expand, contract = of("e1_"), of("k1_")
    # k1's squawk_accepts silences nothing of e1's...
    assert sorted(rule for f in expand for rule in RULES if f" {rule} " in f) == [
        "prefer-bigint-over-int",
        "require-concurrent-index-creation",
    ], findings
    # ...and k1 answers for its own SQL alone.
    assert [rule for f in contract for rule in RULES if f" {rule} " in f] == ["ban-drop-column"], (
        findings
    )
    assert len(findings) == 3, findings
