"""Every command of the toolkit, typed in a project that adopted it, with good and bad input.

A fresh `alembic init` project for each template and driver (adopter.py) gets its first
revision from autogenerate, then runs STEPS in order: each is a command as its user types it,
the exit code it must end with and what the line it ends with must say (stdout's last line,
or stderr's when stdout is empty), never a traceback. A step may put the project in a state
for itself alone (a revision that drops a column, the migration lock held elsewhere...).

To add a command, add rows: they run in the order written, on the state the rows above left.
A row with `known` set names a gap not fixed yet: it must still fail, so that fixing the gap
fails the test until the mark goes.
"""

import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from adopter import (
    LOCK_NAME,
    TABLES,
    Project,
    drop_the_enum_type_left,
    exclude_integer_key_rules,
    fresh_project,
    newest_revision,
    run,
    succeeds,
)
from alembic_toolkit import __version__
from alembic_toolkit.lock import lock_key
from sqlalchemy import URL, create_engine, inspect, make_url
from toolkit_support import dsn

Arrangement = Callable[[Project], AbstractContextManager[None]]


@contextmanager
def edited(path: Path, change: Callable[[str], str]) -> Iterator[None]:
    """`path` changed by `change` for the block, as it was afterwards."""
    before = path.read_text()
    path.write_text(change(before))
    try:
        yield
    finally:
        path.write_text(before)


DROP = '''"""Drops a column and says nothing of why."""

from alembic import op

revision = "d0d0d0d0d0d0"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("customer", "name")


def downgrade() -> None:
    pass
'''


@contextmanager
def revision_on_the_head(project: Project, name: str, template: str) -> Iterator[None]:
    """A revision file `name`, from `template`, on the newest revision for the block."""
    path = project.versions / name
    path.write_text(template.format(head=newest_revision(project)))
    try:
        yield
    finally:
        path.unlink()


def drop_without_reason(project: Project) -> AbstractContextManager[None]:
    """A revision on the head that drops a column, with no `destroys_data` reason."""
    return revision_on_the_head(project, "d0d0d0d0d0d0_drop.py", DROP)


BROKEN = '''"""Runs a name nothing defines: a revision with a bug."""

revision = "e0e0e0e0e0e0"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customer", None)


def downgrade() -> None:
    pass
'''


def upgrade_raises(project: Project) -> AbstractContextManager[None]:
    """A revision on the head whose upgrade raises NameError: it never imported `op`."""
    return revision_on_the_head(project, "e0e0e0e0e0e0_broken.py", BROKEN)


def import_broken(project: Project) -> AbstractContextManager[None]:
    """The first revision imports a module that is not installed."""
    [first] = project.revisions()
    sqlalchemy = "\nimport sqlalchemy as sa\n"
    assert sqlalchemy in first.read_text()
    return edited(first, lambda text: text.replace(sqlalchemy, f"{sqlalchemy}import nosuch\n"))


def models_missing(project: Project) -> AbstractContextManager[None]:
    """env.py's `from models import metadata` fails: models.py is not there."""
    return edited(project.folder / "models.py", lambda _: "raise ImportError('no models')\n")


def integer_key_rules_excluded(project: Project) -> AbstractContextManager[None]:
    """.squawk.toml excludes the two rules the integer keys break, with the reason."""
    return edited(project.folder / ".squawk.toml", exclude_integer_key_rules)


@contextmanager
def lock_held(project: Project) -> Iterator[None]:
    """Another session holds the project's migration lock."""
    with psycopg.connect(dsn(project.database), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key(LOCK_NAME),))
        yield


def database_unreachable(project: Project) -> AbstractContextManager[None]:
    """alembic.ini's URL names a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    return url_changed(project, host="127.0.0.1", port=closed)


def database_missing(project: Project) -> AbstractContextManager[None]:
    """alembic.ini's URL names a database the server does not have (not created yet)."""
    return url_changed(project, database="no_such_database")


def url_changed(project: Project, **changes: Any) -> AbstractContextManager[None]:
    """alembic.ini's URL with `changes` (URL.set's) for the block."""

    def changed(ini: str) -> str:
        [line] = [line for line in ini.splitlines() if line.startswith(URL_KEY)]
        # alembic.ini interpolates "%": its URL's escapes are doubled.
        url = make_url(line.removeprefix(URL_KEY).replace("%%", "%"))
        moved = url.set(**changes).render_as_string(hide_password=False)
        return ini.replace(line, URL_KEY + moved.replace("%", "%%"))

    return edited(project.folder / "alembic.ini", changed)


URL_KEY = "sqlalchemy.url = "


@contextmanager
def enum_type_dropped(project: Project) -> Iterator[None]:
    """The enum type that a downgrade to base left behind, dropped by hand."""
    drop_the_enum_type_left(project)
    yield


@dataclass(frozen=True)
class Step:
    """A command as typed, its exit code, and what the line it ends with says.

    `command` and `says` may name `{first}`, the revision autogenerate wrote, and `{version}`,
    the toolkit's.
    `known` marks a gap not fixed yet: what the command's output holds instead today (any
    case). The step must still fail, and so: fixed, or failing otherwise, the test fails.
    """

    command: str
    exit_code: int
    says: str
    arrange: Arrangement | None = None
    known: str = ""


MISSING_INI = (
    "FAILED: missing.ini not found: run alembic-toolkit in the folder that holds it, or name "
    "it with -c PATH"
)
# A revision that cannot be imported: every command that loads the history says so.
NOT_IMPORTED = "FAILED: ModuleNotFoundError: No module named 'nosuch' (migrations/versions/"
UPGRADED = "upgraded: 1 revision(s) applied"
RAISED = "FAILED: NameError: name 'op' is not defined (migrations/versions/e0e0e0e0e0e0_broken.py:"
# The README's two commands that split the history into the expand and contract branches.
EXPAND_ROOT = "alembic revision -m 'expand: additive changes' --branch-label expand"
CONTRACT_ROOT = (
    "alembic revision -m 'contract: removals' --head {first} --splice --branch-label contract"
)

STEPS = [
    # The history, read without a database.
    Step("alembic-toolkit --version", 0, "alembic-toolkit {version} (Alembic "),
    Step("alembic-toolkit guard", 0, "guard: 1 revision(s), no unacknowledged data loss"),
    Step(
        "alembic-toolkit guard",
        1,
        "FAILED: 1 destructive change(s) without a reason: do as each line above says",
        drop_without_reason,
    ),
    # The tutorial's integer keys, as the README warns: 24 integer columns, 9 of them serial keys.
    Step("alembic-toolkit lint", 1, "FAILED: squawk: 33 finding(s): change each revision"),
    Step("alembic-toolkit lint", 0, "lint: squawk finds nothing", integer_key_rules_excluded),
    Step(
        "alembic-toolkit lint",
        1,
        "FAILED: migrations/env.py failed (ImportError: no models), so no revision can be linted",
        models_missing,
    ),
    Step("alembic-toolkit sql", 0, "COMMIT;"),
    # Applied, read back, undone, applied again.
    Step(
        "alembic-toolkit upgrade heads",
        1,
        "FAILED: nothing applied: 1 destructive change(s) without a reason in the pending",
        drop_without_reason,
    ),
    Step(
        "alembic-toolkit upgrade heads",
        1,
        "FAILED: another process has held the migration lock",
        lock_held,
    ),
    Step("alembic-toolkit upgrade heads", 0, UPGRADED),
    Step("alembic-toolkit upgrade heads", 1, RAISED, upgrade_raises),
    Step("alembic-toolkit current", 0, "{first} (head)"),
    Step("alembic-toolkit sql", 0, "-- nothing pending: the database is at every head"),
    Step("alembic-toolkit downgrade -1", 0, "Running downgrade {first} -> , many tables"),
    Step("alembic-toolkit downgrade -1", 255, "FAILED: Relative revision -1 didn't produce 1"),
    # Autogenerate's downgrade drops the tables, not the enum type: CREATE TYPE fails.
    Step("alembic-toolkit upgrade heads", 0, UPGRADED, known='type "orderstatus" already exists'),
    # What its user does then: drops the type the downgrade left, and upgrades again.
    Step("alembic-toolkit upgrade heads", 0, UPGRADED, enum_type_dropped),
    # What needs the README's expand and contract branches, before they are made.
    Step("alembic-toolkit generate -m x", 1, "FAILED: the history has no expand and contract"),
    Step("alembic-toolkit expand", 1, "FAILED: the history has no expand and contract"),
    Step("alembic-toolkit contract", 1, "FAILED: the history has no expand and contract"),
    Step("alembic-toolkit check", 1, "FAILED: the history needs exactly one expand head"),
    Step("alembic-toolkit release", 1, "FAILED: alembic.ini names no release module"),
    # Bad input.
    Step("alembic-toolkit upgrade nosuch", 1, "FAILED: nosuch: No such revision or branch"),
    Step("alembic-toolkit downgrade nosuch", 255, "FAILED: Can't locate revision identified by"),
    Step("alembic-toolkit nosuch", 2, "alembic-toolkit: no command 'nosuch'"),
    Step("alembic-toolkit upgrade --bogus", 2, "unrecognized arguments: --bogus"),
    Step("alembic-toolkit -c missing.ini guard", 1, MISSING_INI),
    Step("alembic-toolkit -c missing.ini lint", 1, MISSING_INI),
    Step("alembic-toolkit -c missing.ini upgrade", 1, MISSING_INI),
    Step("alembic-toolkit -c missing.ini current", 255, MISSING_INI),
    Step("alembic-toolkit guard", 1, NOT_IMPORTED, import_broken),
    Step("alembic-toolkit lint", 1, NOT_IMPORTED, import_broken),
    Step("alembic-toolkit sql", 1, NOT_IMPORTED, import_broken),
    Step("alembic-toolkit upgrade", 1, NOT_IMPORTED, import_broken),
    Step("alembic-toolkit current", 255, NOT_IMPORTED, import_broken),
    # Each driver's own words: psycopg's "Connection refused", asyncpg's ConnectionRefusedError.
    Step("alembic-toolkit upgrade", 1, "FAILED: ", database_unreachable),
    Step("alembic-toolkit current", 255, "FAILED: ", database_unreachable),
    # What is pending is unknown: every revision's SQL, the same on either driver.
    Step("alembic-toolkit sql", 0, "COMMIT;", database_unreachable),
    Step("alembic-toolkit sql", 0, "COMMIT;", database_missing),
    Step("alembic-toolkit sql --downgrade", 1, "what is pending is unknown", database_unreachable),
    # The README's expand and contract branches, made from the first revision.
    Step(EXPAND_ROOT, 0, "expand_additive_changes.py ...  done"),
    Step(CONTRACT_ROOT, 0, "contract_removals.py ...  done"),
    Step("alembic-toolkit guard", 0, "guard: 3 revision(s), no unacknowledged data loss"),
    Step("alembic-toolkit check", 1, "FAILED: not ready: the database lacks expand revision"),
    Step("alembic-toolkit expand", 0, UPGRADED),
    Step("alembic-toolkit check", 0, "ready: the database serves this release"),
    Step("alembic-toolkit contract", 0, UPGRADED),
    Step("alembic-toolkit contract", 0, "the database is at the contract head"),
    Step("alembic-toolkit generate -m same", 0, "no changes detected between the models and the"),
    Step("alembic-toolkit check", 0, "ready: the database serves this release"),
]


def last_line(stdout: str, stderr: str) -> str:
    """The line a command ends with: stdout's last, or stderr's when it printed nothing."""
    lines = stdout.strip().splitlines() or stderr.strip().splitlines() or [""]
    return lines[-1]


def outcome(project: Project, step: Step, facts: dict[str, str]) -> tuple[str | None, str]:
    """What `step` did other than it should (None if nothing), and all it printed."""
    arrange = step.arrange(project) if step.arrange else None
    command = step.command.format(**facts)
    if arrange is None:
        done = run(project.folder, command)
    else:
        with arrange:
            done = run(project.folder, command)
    printed = done.stdout + done.stderr
    ended = last_line(done.stdout, done.stderr)
    if "Traceback" in printed:
        return f"a traceback, ending {ended!r}", printed
    if done.returncode != step.exit_code:
        return f"exit {done.returncode}, ending {ended!r}", printed
    if step.says.format(**facts) not in ended:
        return f"ends {ended!r}", printed
    return None, printed


@pytest.mark.parametrize("template", ["generic", "async"])
def test_every_command_in_a_project_that_follows_the_readme(
    tmp_path: Path, template: str, database: URL
) -> None:
    project = fresh_project(tmp_path, template, database)
    succeeds(tmp_path, "alembic revision --autogenerate -m 'many tables'")
    facts = {"first": newest_revision(project), "version": __version__}

    failures = []
    for number, step in enumerate(STEPS):
        found, printed = outcome(project, step, facts)
        arranged = f" ({step.arrange.__name__})" if step.arrange else ""
        where = f"STEPS[{number}] `{step.command}`{arranged}"
        expected = f"expected exit {step.exit_code}, {step.says!r}"
        if not step.known and found is not None:
            failures.append(f"{where}: {found}; {expected}")
        elif step.known and found is None:
            failures.append(f"{where} passes now: remove its known mark")
        elif step.known and step.known.lower() not in printed.lower():
            failures.append(f"{where}: {found}, no longer the known {step.known!r}; {expected}")
    assert not failures, "\n".join(failures)

    # The revision autogenerate wrote is the model: every table.
    engine = create_engine(database.set(drivername="postgresql+psycopg"))
    try:
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()
    assert len(tables) == TABLES, tables
