"""The module that tells a running release which schema revisions it works with.

An app decides whether it can serve (`serving.schema_problem`) from a `SchemaRelease`. It
reads it at run time from a small generated module, so it needs neither alembic.ini nor the
revision files where it runs. `alembic-toolkit release` writes that module from the revision
history, to the path alembic.ini names (`[alembic_toolkit] release_module`), and
`alembic-toolkit guard` fails when it is stale.
"""

from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from alembic_toolkit.compatibility import SchemaRelease
from alembic_toolkit.project import ProjectCommands
from alembic_toolkit.review.destructive import CONTRACT, EXPAND, renames


class NoBranchesError(CommandError):
    """The history has no expand or no contract branch."""


def release_of(script: ScriptDirectory) -> SchemaRelease:
    """The requirement of a release built from the history in `script`."""
    heads: dict[str, str] = {}
    labelled = {label for revision in script.walk_revisions() for label in revision.branch_labels}
    for label in (EXPAND, CONTRACT):
        revisions = script.get_revisions(f"{label}@head") if label in labelled else ()
        if len(revisions) != 1 or revisions[0] is None:
            raise NoBranchesError(
                f"the history needs exactly one {label} head (a branch labelled {label!r})"
            )
        heads[label] = revisions[0].revision
    every = {revision.revision: revision for revision in script.walk_revisions()}
    contract = frozenset(r for r, each in every.items() if CONTRACT in each.branch_labels)
    return SchemaRelease(
        expand_head=heads[EXPAND],
        contract_head=heads[CONTRACT],
        contract=contract,
        older=frozenset(every) - contract - {heads[EXPAND]},
        needs=frozenset(r for r in contract if every[r].path and renames(Path(every[r].path))),
    )


def render(release: SchemaRelease, commands: ProjectCommands) -> str:
    """The module's source for `release`, as ruff formats it."""
    return (
        f'"""The schema revisions this release works with (see alembic_toolkit.compatibility).\n'
        "\n"
        f"Written from the revision history by `{commands.release}`;\n"
        f"`{commands.guard}` fails when it is stale. Do not edit.\n"
        '"""\n'
        "\n"
        "from alembic_toolkit.compatibility import SchemaRelease\n"
        "\n"
        "RELEASE = SchemaRelease(\n"
        f'    expand_head="{release.expand_head}",\n'
        f'    contract_head="{release.contract_head}",\n'
        f"    contract={_frozenset(release.contract)},\n"
        f"    older={_frozenset(release.older)},\n"
        # Only when there are some: a module written before `needs` existed stays current.
        + (f"    needs={_frozenset(release.needs)},\n" if release.needs else "")
        + ")\n"
    )


def _frozenset(revisions: frozenset[str]) -> str:
    """A frozenset of revision ids as ruff formats it, one per line."""
    lines = "".join(f'            "{revision}",\n' for revision in sorted(revisions))
    return f"frozenset(\n        {{\n{lines}        }}\n    )"


def is_current(script: ScriptDirectory, path: Path, commands: ProjectCommands) -> bool:
    """True when the module at `path` matches the history in `script`."""
    return path.is_file() and path.read_text() == render(release_of(script), commands)


def write(script: ScriptDirectory, path: Path, commands: ProjectCommands) -> bool:
    """Write the module for `script`'s history; True when it changed."""
    if is_current(script, path, commands):
        return False
    path.write_text(render(release_of(script), commands))
    return True
