"""Writing and checking src/alembic_stuff/schema_release.py from the revision history.

The app reads its release's schema requirement from that module at run time, so it needs
neither alembic.ini nor the revision files to decide whether it is ready.
"""

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic_toolkit.compatibility import SchemaRelease
from alembic_toolkit.review.destructive import CONTRACT, EXPAND

# Beside alembic.ini, as in this project; a copy holding only alembic/ (as some tests make) has
# no app package to keep in step.
RELATIVE_PATH = Path("src", "alembic_stuff", "schema_release.py")

HEADER = '''"""The schema revisions this release works with (see alembic_toolkit.compatibility).

Generated from alembic/versions by `pipenv run migrations-release`, which `alembic-revision`
runs; `migrations-check` fails when it is stale. Do not edit.
"""

from alembic_toolkit.compatibility import SchemaRelease

'''


class NoBranchesError(ValueError):
    """The history has no expand or no contract branch."""


def release_of(script: ScriptDirectory) -> SchemaRelease:
    """The requirement of a release built from the history in `script`."""
    heads: dict[str, str] = {}
    for label in (EXPAND, CONTRACT):
        revisions = script.get_revisions(f"{label}@head") if _has_label(script, label) else ()
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
    )


def _has_label(script: ScriptDirectory, label: str) -> bool:
    return any(label in revision.branch_labels for revision in script.walk_revisions())


def render(release: SchemaRelease) -> str:
    """The module's source for `release`, as ruff formats it."""
    return (
        f"{HEADER}RELEASE = SchemaRelease(\n"
        f'    expand_head="{release.expand_head}",\n'
        f'    contract_head="{release.contract_head}",\n'
        f"    contract={_frozenset(release.contract)},\n"
        f"    older={_frozenset(release.older)},\n"
        ")\n"
    )


def _frozenset(revisions: frozenset[str]) -> str:
    """A frozenset of revision ids as ruff formats it, one per line."""
    lines = "".join(f'            "{revision}",\n' for revision in sorted(revisions))
    return f"frozenset(\n        {{\n{lines}        }}\n    )"


def module_path(config: Config) -> Path | None:
    """The project's schema_release.py, beside `config`'s alembic.ini; None if it has none."""
    if config.config_file_name is None:
        return None
    path = Path(config.config_file_name).parent / RELATIVE_PATH
    return path if path.is_file() else None


def is_current(script: ScriptDirectory, path: Path) -> bool:
    """True when the module at `path` matches the history in `script`."""
    return path.read_text() == render(release_of(script))


def write(script: ScriptDirectory, path: Path) -> bool:
    """Write the module for `script`'s history; True when it changed."""
    if is_current(script, path):
        return False
    path.write_text(render(release_of(script)))
    return True
