"""`revision`: rename-aware autogenerate onto the expand or the contract branch."""

from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from alembic_toolkit import release_module
from alembic_toolkit.autogen.hints import Hints
from alembic_toolkit.autogen.renames import rename_aware
from alembic_toolkit.environment import terminal_ask
from alembic_toolkit.project import ProjectCommands, release_module_path
from alembic_toolkit.review import destructive
from alembic_toolkit.review.markers import MarkerError
from alembic_toolkit.upgrades import EXPAND_HEAD

from alembic_stuff.cli.common import load_settings
from alembic_stuff.cli.usage import OneLineUsageCommand, UsageProblem
from alembic_stuff.db.migrations import alembic_config


@click.command(cls=OneLineUsageCommand)
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option(
    "-x",
    "x_arguments",
    multiple=True,
    metavar="KEY=VALUE",
    help="rename=table.old:new, rename=old_table:new_table, allow_drop=table.column, "
    "rename_mode=expand (repeatable).",
)
@click.option(
    "--expand", is_flag=True, help="Write onto the expand branch: additive changes (the default)."
)
@click.option(
    "--contract",
    is_flag=True,
    help="Write onto the contract branch: removals and renames, depending on the expand head.",
)
def revision(message: str, x_arguments: tuple[str, ...], expand: bool, contract: bool) -> None:
    """Autogenerate a revision, refusing to drop a column or table nobody said to drop."""
    if expand and contract:
        conflict = click.UsageError(
            "--expand and --contract name two branches: give one", click.get_current_context()
        )
        raise UsageProblem(conflict)
    branch = destructive.CONTRACT if contract else destructive.EXPAND
    config = alembic_config(load_settings())
    script = ScriptDirectory.from_config(config)
    # A contract revision removes what the releases up to the newest expand stopped using.
    depends_on = (
        script.get_revision(EXPAND_HEAD).revision if branch == destructive.CONTRACT else None
    )
    try:
        # The rename-aware hook, installed as a program calling Alembic installs it.
        hook = rename_aware(
            Hints.parse(x_arguments),
            ask=terminal_ask(),
            commands=ProjectCommands.from_config(config),
        )
        written = command.revision(
            config,
            message=message,
            autogenerate=True,
            head=f"{branch}@head",
            depends_on=depends_on,
            process_revision_directives=hook,
        )
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    scripts = written if isinstance(written, list) else [written]
    _refuse_removals_on_expand([Path(s.path) for s in scripts if s is not None], config)
    _write_schema_release(config)


def _refuse_removals_on_expand(paths: list[Path], config: Config) -> None:
    """Take back new revisions the guard would refuse for their branch: its lines, then why.

    The guard's lines about where a revision sits are what it reports with the branches
    (`placements`) and not without them: a drop, narrowing or rename on the expand branch.
    """
    placed = destructive.placements(ScriptDirectory.from_config(config))
    misplaced: list[str] = []
    try:
        for path in paths:
            anywhere = set(destructive.problems([path]))
            misplaced += [
                line for line in destructive.problems([path], placed) if line not in anywhere
            ]
    except MarkerError as exc:
        raise click.ClickException(str(exc)) from None
    if not misplaced:
        return
    for line in misplaced:
        click.echo(line, err=True)
    for path in paths:
        path.unlink()
    raise click.ClickException(
        "no revision written: the expand branch only adds, while the previous release still "
        "uses what this drops or renames; run the same command with --contract"
    )


def _write_schema_release(config: Config) -> None:
    path = release_module_path(config)
    script = ScriptDirectory.from_config(config)
    if path is not None and release_module.write(script, path, ProjectCommands.from_config(config)):
        click.echo(f"updated {path}: the schema revisions this release works with", err=True)
