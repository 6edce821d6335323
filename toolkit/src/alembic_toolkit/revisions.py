"""Writing a revision onto a history split into expand and contract branches.

`write_revision` is rename-aware autogenerate (`autogen.renames.rename_aware`) onto the expand
branch, or, for removals, onto the contract branch with the expand head in `depends_on`: what
the releases up to it stopped using. A revision the guard would refuse for its branch (a drop,
narrowing or rename on expand) is taken back, naming `--contract`; the release module, when
alembic.ini names one, is rewritten to match.
"""

from dataclasses import dataclass, replace
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic_toolkit import release_module
from alembic_toolkit.autogen.decisions import Ask
from alembic_toolkit.autogen.hints import Hints
from alembic_toolkit.autogen.renames import rename_aware
from alembic_toolkit.errors import FindingsError
from alembic_toolkit.project import ProjectCommands, release_module_path
from alembic_toolkit.review import destructive
from alembic_toolkit.upgrades import require_branches


@dataclass(frozen=True)
class Written:
    """What `write_revision` wrote."""

    revisions: list[Path]
    release_module: Path | None
    """The release module, when it changed."""


def write_revision(
    config: Config,
    message: str,
    *,
    contract: bool = False,
    hints: Hints | None = None,
    ask: Ask | None = None,
    commands: ProjectCommands | None = None,
) -> Written:
    """Autogenerate a revision onto the expand (or contract) branch; say what it wrote."""
    named = commands or ProjectCommands.from_config(config)
    script = ScriptDirectory.from_config(config)
    require_branches(script)
    branch = destructive.CONTRACT if contract else destructive.EXPAND
    expand_head = script.get_revisions(f"{destructive.EXPAND}@head")[0]
    depends_on = expand_head.revision if contract and expand_head is not None else None
    written = command.revision(
        config,
        message=message,
        autogenerate=True,
        head=f"{branch}@head",
        depends_on=depends_on,
        process_revision_directives=rename_aware(
            hints or Hints(), ask=ask, commands=_naming_this_command(named, contract=contract)
        ),
    )
    scripts = written if isinstance(written, list) else [written]
    paths = [Path(each.path) for each in scripts if each is not None]
    if not contract:
        _refuse_removals_on_expand(paths, config)
    module = release_module_path(config)
    # A copy of the migrations without the app's package has no module to keep in step.
    if module is None or not module.parent.is_dir():
        return Written(paths, None)
    changed = release_module.write(ScriptDirectory.from_config(config), module, named)
    return Written(paths, module if changed else None)


def _naming_this_command(named: ProjectCommands, *, contract: bool) -> ProjectCommands:
    """`named`, its revision command the one that writes onto the same branch as this one.

    A refused drop names the command that writes it with the drop confirmed; Alembic's own
    `alembic revision` (the toolkit's default name) writes onto neither branch.
    """
    given = (
        named.revision if named.revision != ProjectCommands.revision else "alembic-toolkit generate"
    )
    return replace(named, revision=f"{given} --contract" if contract else given)


def _refuse_removals_on_expand(paths: list[Path], config: Config) -> None:
    """Take back new revisions the guard would refuse for their branch: its lines, then why.

    The guard's lines about where a revision sits are what it reports with the branches
    (`placements`) and not without them: a drop, narrowing or rename on the expand branch.
    """
    placed = destructive.placements(ScriptDirectory.from_config(config))  # with the new ones
    misplaced: list[str] = []
    for path in paths:
        anywhere = set(destructive.problems([path]))
        misplaced += [line for line in destructive.problems([path], placed) if line not in anywhere]
    if not misplaced:
        return
    for path in paths:
        path.unlink()
    raise FindingsError(
        "no revision written: the expand branch only adds, while the previous release still "
        "uses what this drops or renames; run the same command with --contract",
        misplaced,
    )
