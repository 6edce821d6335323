"""The `alembic-toolkit` command: Alembic's own command line, plus `guard` and `lint`.

Alembic's `CommandLine.register_command` adds them, so every Alembic option (`-c`, `-n`,
`-x`) and command works as it does with `alembic`; `--version` names the toolkit's version
and Alembic's.
"""

import os
from argparse import ArgumentParser
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NoReturn

from alembic.config import CommandLine, Config
from alembic.script import ScriptDirectory

from alembic_toolkit.review import destructive, squawk
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
        found = list(destructive.problems(sorted(paths), placed))
    except MarkerError as exc:
        _fail(str(exc))
    for problem in found:
        print(problem)
    if found:
        _fail(
            f"{len(found)} destructive change(s) without a reason: do as each line above says, "
            "then run the guard again"
        )
    print(f"guard: {len(paths)} revision(s), no unacknowledged data loss")


def lint(config: Config) -> None:
    """Lint every revision's upgrade SQL with squawk (rules excluded in .squawk.toml)."""
    _require_file(config)
    try:
        found = list(squawk.lint(config))
    except (squawk.SquawkNotFoundError, MarkerError) as exc:
        _fail(str(exc))
    for problem in found:
        print(problem)
    if found:
        _fail(
            f"squawk: {len(found)} finding(s): change each revision as its line says, or accept "
            f'the rule in that revision with a reason: {SQUAWK_ACCEPTS} = {{"rule": "why"}}'
        )
    print("lint: squawk finds nothing")


def distribution_version(name: str) -> str:
    """The installed version of the distribution `name`, from its metadata."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "(not installed)"


def versions() -> str:
    """What `alembic-toolkit --version` prints: the toolkit's version, then Alembic's."""
    return (
        f"alembic-toolkit {distribution_version('alembic-toolkit')} "
        f"(Alembic {distribution_version('alembic')})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line."""
    # Alembic's own parser answers --version with Alembic's version alone; this one answers
    # first, and leaves every other argument to Alembic.
    toolkit = ArgumentParser(prog="alembic-toolkit", add_help=False)
    toolkit.add_argument("--version", action="version", version=versions())
    toolkit.parse_known_args(argv)
    command_line = CommandLine(prog="alembic-toolkit")
    command_line.register_command(guard)
    command_line.register_command(lint)
    command_line.main(argv)
