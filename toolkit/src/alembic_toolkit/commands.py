"""The toolkit's commands, as `alembic-toolkit` runs them: each prints its result, or raises.

A command that finds a problem raises Alembic's `CommandError` (or a subclass) with one line
saying what to do; `alembic_toolkit.cli` prints it and exits 1. The same functions are the
Python API of the command line: `guard(config)`, `upgrade(config, "heads")`, and so on.
"""

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError, OperationalError

from alembic_toolkit import log, release_module, serving, upgrades
from alembic_toolkit.autogen.hints import Hints
from alembic_toolkit.environment import terminal_ask
from alembic_toolkit.errors import DatabaseUnreachableError, FindingsError
from alembic_toolkit.inspection import read_database
from alembic_toolkit.preview import offline_sql, pending_downgrade_sql, pending_sql
from alembic_toolkit.project import ProjectCommands, release_module_path
from alembic_toolkit.review import destructive, kinds, squawk
from alembic_toolkit.review.markers import SQUAWK_ACCEPTS
from alembic_toolkit.revisions import write_revision

# The targets of `upgrade`, `expand` and `contract`, as a person says them.
TARGETS = {
    upgrades.EVERY_HEAD: "every head",
    upgrades.EXPAND_HEAD: "the expand head",
    upgrades.CONTRACT_HEAD: "the contract head",
}


def require_file(config: Config) -> None:
    """Refuse in one line when the configuration file is not there."""
    name = config.config_file_name
    if name is not None and not Path(name).is_file():
        raise CommandError(
            f"{name} not found: run alembic-toolkit in the folder that holds it, or name it "
            "with -c PATH"
        )


def generate(config: Config, *, message: str, contract: bool = False) -> None:
    """Autogenerate a revision onto the expand branch (removals: contract), rename-aware."""
    require_file(config)
    given = getattr(config.cmd_opts, "x", None) or []
    written = write_revision(
        config, message, contract=contract, hints=Hints.parse(given), ask=terminal_ask()
    )
    if written.release_module is not None:
        print(f"updated: {os.path.relpath(written.release_module)}, the revisions of this release")


def upgrade(
    config: Config,
    target: str = upgrades.EVERY_HEAD,
    *,
    skip_guard: bool = False,
    force: bool = False,
) -> None:
    """Upgrade to `target` (every head by default) once the guard and the registry allow it."""
    require_file(config)
    done = upgrades.guarded_upgrade(config, target, skip_guard=skip_guard, force=force)
    if done.notice is not None:
        print(done.notice)
    print(
        f"upgraded: {done.applied} revision(s) applied"
        if done.applied
        else f"the database is at {TARGETS.get(done.target, done.target)}"
    )


def expand(config: Config, *, skip_guard: bool = False) -> None:
    """Apply the expand branch: additive changes, safe while the previous release serves."""
    upgrade(config, upgrades.EXPAND_HEAD, skip_guard=skip_guard)


def contract(config: Config, *, skip_guard: bool = False, force: bool = False) -> None:
    """Apply the contract branch: removals, once no replica runs a release that needs them."""
    upgrade(config, upgrades.CONTRACT_HEAD, skip_guard=skip_guard, force=force)


def sql(config: Config, revisions: str | None = None, *, downgrade: bool = False) -> None:
    """Print the SQL of a range FROM:TO, or of what is pending (its way back with `downgrade`)."""
    require_file(config)
    if revisions is not None:
        if revisions.count(":") != 1:
            raise CommandError(
                f"{revisions}: write the range as FROM:TO, e.g. base:heads (or "
                "expand@head:-1 --downgrade)"
            )
        with log.quiet():
            print(offline_sql(config, revisions, downgrade=downgrade), end="")
        return
    with log.quiet():
        _pending_sql(config, downgrade)


def _pending_sql(config: Config, downgrade: bool) -> None:
    script = ScriptDirectory.from_config(config)
    try:
        heads = read_database(config, lambda _, heads: heads)
    # OSError: asyncpg's refused connection, which SQLAlchemy does not wrap. A login refused or
    # a database not there yet: psycopg's are OperationalErrors, asyncpg's other DBAPIErrors.
    except (DatabaseUnreachableError, OperationalError, OSError, DBAPIError) as exc:
        if isinstance(exc, DBAPIError) and not _cannot_connect(exc):
            raise
        if downgrade:  # the way back from what is pending depends on where the database is
            raise CommandError(
                f"{str(exc).splitlines()[0]}; what is pending is unknown: give the range, "
                "e.g. expand@head:-1 --downgrade"
            ) from None
        # Named, so that a login refused by mistake does not pass for a new environment.
        why = " ".join(str(getattr(exc, "orig", None) or exc).split())
        print(f"-- the database cannot be read ({why}): showing base:heads", file=sys.stderr)
        heads = ()
    pending = upgrades.pending_revisions(script, heads, upgrades.EVERY_HEAD)
    if not pending:
        way_back = f"{ProjectCommands.from_config(config).sql} expand@head:-1 --downgrade"
        print(
            "-- nothing pending: the database is at every head (the way back from the newest "
            f"expand revision: {way_back})",
            file=sys.stderr,
        )
        return
    # From the database's heads, not from each branch's: a contract revision's range would
    # also run the expand revisions it depends on, applied or not.
    print(pending_downgrade_sql(config, heads) if downgrade else pending_sql(config, heads), end="")


def _cannot_connect(exc: DBAPIError) -> bool:
    """True when `exc` says no session could be had: refused, a login refused, no database."""
    state = str(getattr(exc.orig, "sqlstate", None) or "")
    return isinstance(exc, OperationalError) or state.startswith(("08", "28")) or state == "3D000"


def guard(config: Config, paths: Sequence[Path] = ()) -> None:
    """Fail on any revision that destroys data without saying why, or a stale release module.

    `paths`: the revision files to read (what pre-commit passes); by default, every revision.
    """
    require_file(config)
    for path in paths:
        if not path.is_file():
            raise CommandError(f"{path}: no such revision file")
    script = ScriptDirectory.from_config(config)
    revisions = list(script.walk_revisions())
    # Relative to where the command was started, as people and editors expect them.
    paths = list(paths) or [Path(os.path.relpath(revision.path)) for revision in revisions]
    # In a history split into expand and contract branches, where a revision sits decides
    # what it may do: an expand revision may not drop or rename what the previous release uses.
    branches = {destructive.EXPAND, destructive.CONTRACT}
    branched = any(revision.branch_labels & branches for revision in revisions)
    placed = destructive.placements(script) if branched else None
    found = list(destructive.labelled_problems(sorted(paths), placed))
    if found:
        raise FindingsError(
            f"{kinds.summary(kind for kind, _ in found)}: do as each line above says, then run "
            "the guard again",
            [problem for _, problem in found],
        )
    commands = ProjectCommands.from_config(config)
    module = release_module_path(config)
    # A copy of the migrations without the app's package has no module to keep in step.
    if (
        module is not None
        and module.parent.is_dir()
        and not release_module.is_current(script, module, commands)
    ):
        raise CommandError(
            f"{os.path.relpath(module)} does not match the revisions: run `{commands.release}`"
        )
    print(f"guard: {len(paths)} revision(s), no unacknowledged data loss")


def lint(config: Config) -> None:
    """Lint every revision's upgrade SQL with squawk (rules excluded in .squawk.toml)."""
    require_file(config)
    try:
        with log.quiet():
            found = list(squawk.lint(config))
    except (squawk.SquawkNotFoundError, squawk.EnvironmentFailedError) as exc:
        raise CommandError(str(exc)) from None
    if found:
        raise FindingsError(
            f"squawk: {len(found)} finding(s): change each revision as its line says, or accept "
            f'the rule in that revision with a reason: {SQUAWK_ACCEPTS} = {{"rule": "why"}}',
            found,
        )
    print("lint: squawk finds nothing")


def release(config: Config) -> None:
    """Write the release module: the schema revisions this release works with, for readiness."""
    require_file(config)
    path = release_module_path(config)
    if path is None:
        raise CommandError(
            f"{config.config_file_name} names no release module: add `release_module = PATH` "
            "(the module your app reads its SchemaRelease from) under [alembic_toolkit]"
        )
    script = ScriptDirectory.from_config(config)
    changed = release_module.write(script, path, ProjectCommands.from_config(config))
    print(f"{'updated' if changed else 'unchanged'}: {os.path.relpath(path)}")


def check(config: Config) -> None:
    """Say whether the database can serve the release these revisions make (readiness)."""
    require_file(config)
    release = release_module.release_of(ScriptDirectory.from_config(config))
    problem = read_database(
        config, lambda connection, _: serving.schema_problem(connection, release)
    )
    if problem is not None:
        raise CommandError(f"not ready: {problem}")
    print(
        f"ready: the database serves this release (expand head {release.expand_head}, "
        f"contract head {release.contract_head})"
    )
