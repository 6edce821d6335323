"""The `alembic-toolkit` command: Alembic's own command line, plus `guard` and `lint`.

Alembic's `CommandLine.register_command` adds them, so every Alembic option (`-c`, `-n`,
`-x`) and command works as it does with `alembic`; `--version` names the toolkit's version
and Alembic's.
"""

import logging
import os
from argparse import ArgumentParser, RawDescriptionHelpFormatter
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NoReturn

from alembic.config import CommandLine, Config
from alembic.script import ScriptDirectory

from alembic_toolkit import __version__
from alembic_toolkit.review import destructive, kinds, squawk
from alembic_toolkit.review.markers import SQUAWK_ACCEPTS, MarkerError


def _fail(message: str) -> NoReturn:
    """End `guard` or `lint` as Alembic ends a failed command, but with exit code 1.

    Alembic's command line turns a CommandError into exit code 255 (`sys.exit(-1)`); a check
    that finds problems exits 1, as linters and test runners do.
    """
    print(f"FAILED: {message}")
    raise SystemExit(1)


def _require_file(config: Config) -> None:
    """End the command in one line when its configuration file is not there."""
    name = config.config_file_name
    if name is not None and not Path(name).is_file():
        _fail(
            f"{name} not found: run alembic-toolkit in the folder that holds it, or name it "
            "with -c PATH"
        )


def guard(config: Config) -> None:
    """Fail on any revision that destroys data without saying why."""
    _require_file(config)
    script = ScriptDirectory.from_config(config)
    revisions = list(script.walk_revisions())
    # Relative to where the command was started, as people and editors expect them.
    paths = [Path(os.path.relpath(revision.path)) for revision in revisions]
    # In a history split into expand and contract branches, where a revision sits decides
    # what it may do: an expand revision may not drop or rename what the previous release uses.
    branches = {destructive.EXPAND, destructive.CONTRACT}
    branched = any(revision.branch_labels & branches for revision in revisions)
    placed = destructive.placements(script) if branched else None
    try:
        found = list(destructive.labelled_problems(sorted(paths), placed))
    except MarkerError as exc:
        _fail(str(exc))
    for _, problem in found:
        print(problem)
    if found:
        _fail(
            f"{kinds.summary(kind for kind, _ in found)}: do as each line above says, "
            "then run the guard again"
        )
    print(f"guard: {len(paths)} revision(s), no unacknowledged data loss")


def lint(config: Config) -> None:
    """Lint every revision's upgrade SQL with squawk (rules excluded in .squawk.toml)."""
    _require_file(config)
    # env.py's logging configuration announces each offline run at INFO, dozens of lines
    # around the findings; warnings and errors still print.
    logging.disable(logging.INFO)
    try:
        found = list(squawk.lint(config))
    except (squawk.SquawkNotFoundError, squawk.EnvironmentFailedError, MarkerError) as exc:
        _fail(str(exc))
    finally:
        logging.disable(logging.NOTSET)
    for problem in found:
        print(problem)
    if found:
        _fail(
            f"squawk: {len(found)} finding(s): change each revision as its line says, or accept "
            f'the rule in that revision with a reason: {SQUAWK_ACCEPTS} = {{"rule": "why"}}'
        )
    print("lint: squawk finds nothing")


# What `alembic-toolkit guard --help` and `lint --help` say beyond the one-line summary.
DESCRIPTIONS = {
    "guard": """Read every revision's source (nothing runs, no database needed) and fail on any
drop, narrowing type change or destructive SQL that the revision does not acknowledge with a
reason:

    destroys_data = {"upgrade: drop_column users.email": "why losing it is fine"}

On a history with expand and contract branches, also fail on an expand revision that drops,
narrows or renames, and on a contract revision naming no expand revision in depends_on.
Exit 0 when nothing is found, 1 with one line per problem otherwise.""",
    "lint": """Write each revision's upgrade SQL offline (Alembic's --sql mode, no database
needed) and lint it with squawk (the squawk-cli package: pip install 'alembic-toolkit[lint]').
Rules excluded for every revision, each with its reason, go in .squawk.toml beside
alembic.ini; a revision accepts a rule for itself with a reason:

    squawk_accepts = {"prefer-bigint-over-int": "why int is enough"}

Run it where env.py's imports work. Exit 0 when squawk finds nothing, 1 otherwise.""",
}


def distribution_version(name: str) -> str:
    """The installed version of the distribution `name`, from its metadata."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "(not installed)"


def versions() -> str:
    """What `alembic-toolkit --version` prints: the toolkit's version, then Alembic's."""
    return f"alembic-toolkit {__version__} (Alembic {distribution_version('alembic')})"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line."""
    # Alembic's own parser answers --version with Alembic's version alone; this one answers
    # first, and leaves every other argument to Alembic.
    toolkit = ArgumentParser(prog="alembic-toolkit", add_help=False)
    toolkit.add_argument("--version", action="version", version=versions())
    toolkit.parse_known_args(argv)
    command_line = CommandLine(prog="alembic-toolkit")
    for command in (guard, lint):
        command_line.register_command(command)
        # register_command gives the subcommand only its one-line summary, shown in the
        # list of commands; its own --help shows the description.
        parser = command_line.subparsers.choices[command.__name__]
        parser.description = DESCRIPTIONS[command.__name__]
        parser.formatter_class = RawDescriptionHelpFormatter
    command_line.main(argv)
