"""Renames in a project that adopted the toolkit as its README says, on the README's branches.

The project and its models are adopter.py's: a fresh `alembic init`, eleven tables. The
product's `title` column is renamed in the models; the rows must come through, as a plain
rename and as the README's expand and contract pair, there and back.
"""

from pathlib import Path

import pytest
from adopter import (
    Project,
    drop_the_enum_type_left,
    exclude_integer_key_rules,
    fresh_project,
    keep_a_row,
    products,
    run,
    split_into_branches,
    succeeds,
)
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic_toolkit.release_module import release_of
from sqlalchemy import URL

PAIR = "alembic -x rename=product.title:name -x rename_mode=expand revision --autogenerate"


def first_revision_applied(project: Project, *, branches: bool = False) -> None:
    """Autogenerate the first revision (split into the README's branches), upgrade, keep a row."""
    succeeds(project.folder, "alembic revision --autogenerate -m 'many tables'")
    if branches:
        split_into_branches(project)
    succeeds(project.folder, "alembic upgrade heads")
    keep_a_row(project)


def integer_key_rules_excluded(project: Project) -> None:
    """Do what the README says instead of changing the tutorial's keys: exclude two rules."""
    toml = project.folder / ".squawk.toml"
    toml.write_text(exclude_integer_key_rules(toml.read_text()))


@pytest.mark.parametrize("template", ["generic", "async"])
def test_a_rename_needs_a_hint_and_keeps_the_rows(
    tmp_path: Path, template: str, database: URL
) -> None:
    project = fresh_project(tmp_path, template, database)
    first_revision_applied(project)

    # Without a hint nobody can answer (no terminal): nothing is written, one command is named.
    project.rename_title("name")
    refused = run(tmp_path, "alembic revision --autogenerate -m rename")
    assert refused.returncode != 0
    assert "-x rename=product.title:name" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert len(project.revisions()) == 1

    succeeds(tmp_path, "alembic -x rename=product.title:name revision --autogenerate -m rn")
    [renaming] = project.versions.glob("*_rn.py")
    assert "new_column_name='name'" in renaming.read_text().replace('"', "'")
    assert "drop_column" not in renaming.read_text()
    assert "squawk_accepts = {" in renaming.read_text()

    # Offline SQL carries the limits; the lint finds nothing, the generated rename included.
    offline = succeeds(tmp_path, "alembic upgrade base:heads --sql")
    assert "SET lock_timeout = '5000ms';" in offline.stdout
    integer_key_rules_excluded(project)
    succeeds(tmp_path, "alembic-toolkit lint")

    succeeds(tmp_path, "alembic upgrade heads")
    assert products(project, "name") == [(1, "kept")]


def test_the_readmes_branches_carry_an_expand_rename_there_and_back(
    tmp_path: Path, database: URL
) -> None:
    project = fresh_project(tmp_path, "generic", database)
    first_revision_applied(project, branches=True)

    project.rename_title("name")
    succeeds(tmp_path, f"{PAIR} --head expand@head -m rn")
    # The first revision, the two roots, and the pair.
    assert len(project.revisions()) == 5
    succeeds(tmp_path, "alembic-toolkit guard")
    succeeds(tmp_path, "alembic upgrade heads")
    succeeds(tmp_path, "alembic check")
    assert products(project, "name") == [(1, "kept")]

    # And back: the contract, then the expand.
    for step in ("contract@-1", "expand@-1"):
        succeeds(tmp_path, f"alembic downgrade {step}")
    assert products(project, "title") == [(1, "kept")]


def test_a_generated_expand_pair_passes_the_lint(tmp_path: Path, database: URL) -> None:
    """The README's env.py, then a rename written as a pair: squawk lints each revision alone.

    Without transaction_per_migration in run_migrations_offline, the offline SQL of the
    contract's parents is not a prefix of its own, and the lint cannot cut its revision out.
    """
    project = fresh_project(tmp_path, "generic", database)
    first_revision_applied(project, branches=True)
    integer_key_rules_excluded(project)
    project.rename_title("name")
    succeeds(tmp_path, f"{PAIR} --head expand@head -m rn")
    lint = run(tmp_path, "alembic-toolkit lint")
    assert "cannot be linted alone" not in lint.stdout, lint.stdout
    assert lint.returncode == 0, lint.stdout + lint.stderr


INDEXED = "    name: Mapped[str] = mapped_column(String(200))\n"


def test_an_expand_revision_after_a_contract_rename_migrates_an_empty_database(
    tmp_path: Path, database: URL
) -> None:
    """A rename on contract, then an index of the new name on expand: base to heads still works.

    The expand revision is written onto expand@head, whose history lacks the contract revision
    that made the column it indexes: it names it in depends_on, or from an empty database
    Alembic would run it first, on a column that does not exist yet.
    """
    project = fresh_project(tmp_path, "generic", database)
    first_revision_applied(project, branches=True)
    project.rename_title("name")
    rename = "alembic -x rename=product.title:name revision --autogenerate"
    succeeds(tmp_path, f"{rename} --head contract@head --depends-on expand@head -m rn")
    succeeds(tmp_path, "alembic upgrade heads")
    models = tmp_path / "models.py"
    plain = models.read_text()
    assert INDEXED in plain
    models.write_text(plain.replace(INDEXED, INDEXED.replace("))", "), index=True)")))
    succeeds(tmp_path, "alembic revision --autogenerate --head expand@head -m ix")
    succeeds(tmp_path, "alembic upgrade heads")
    # The next contract revision depends on that expand revision, which depends in turn on
    # the contract head it is written onto.
    models.write_text(plain)
    unindex = "alembic revision --autogenerate --head contract@head --depends-on expand@head"
    succeeds(tmp_path, f"{unindex} -m 'no ix'")
    succeeds(tmp_path, "alembic upgrade heads")
    succeeds(tmp_path, "alembic downgrade base")
    drop_the_enum_type_left(project)
    succeeds(tmp_path, "alembic upgrade heads")


@pytest.mark.parametrize("pair", [True, False], ids=["expand-pair", "one-step-contract"])
def test_a_release_needs_its_one_step_contract_rename_and_not_a_pairs_contract(
    tmp_path: Path, database: URL, pair: bool
) -> None:
    """A rename in one contract revision: the release built on it uses the new name, so it
    cannot serve before that revision is applied. The pair's contract only drops the old name,
    which the release no longer uses."""
    project = fresh_project(tmp_path, "generic", database)
    first_revision_applied(project, branches=True)
    project.rename_title("name")
    if pair:
        succeeds(tmp_path, f"{PAIR} --head expand@head -m rn")
    else:
        rename = "alembic -x rename=product.title:name revision --autogenerate"
        succeeds(tmp_path, f"{rename} --head contract@head --depends-on expand@head -m rn")
    script = ScriptDirectory.from_config(Config(str(tmp_path / "alembic.ini")))
    release = release_of(script)
    [contract_head] = script.get_revisions("contract@head")
    assert contract_head is not None
    assert release.needs == (frozenset() if pair else {contract_head.revision})
    expanded_only = dict.fromkeys(release.older) | {
        release.expand_head: "expand",
        **dict.fromkeys(release.contract - {contract_head.revision}, "contract"),
    }
    assert (release.judge(expanded_only) is None) == pair
    assert release.judge({**expanded_only, contract_head.revision: "contract"}) is None
