"""The generator's pair: release N+1's expand and contract revisions, written by the toolkit.

The proof deploys what a project's own developer would: the revisions
`pipenv run alembic-revision -x rename=item.label:name -x rename_mode=expand` writes, not a
recipe written by hand. So at run time a scratch copy of the proof's migration environment
(an env.py, the revision template, the revision creating `item`) gets the two branch roots a
project has once its history splits into `expand` and `contract`; the database is brought to
them (release N); then the toolkit's rename-aware autogenerate compares release N+1's model
with that database and writes the pair, onto `expand@head` and `contract@head`, exactly as
src/alembic_stuff/cli.py `revision` calls it. Each release's schema requirement is read from
the history it was built with, as the app's `schema_release.py` is. The copy's env.py and
template are a toolkit user's (bench/zerodowntime/project/), not the hand-written recipe's
minimal environment.

`python -m bench.zerodowntime.generated INI` writes the pair in the copy at INI, against the
database named by ZERO_DOWNTIME_DATABASE_URL: in a process of its own, as the command is.
"""

import shutil
import sys
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic_toolkit.autogen.hints import Hints
from alembic_toolkit.autogen.renames import rename_aware
from alembic_toolkit.compatibility import SchemaRelease
from alembic_toolkit.release_module import release_of

from bench.zerodowntime.releases import NEW_COLUMN, OLD_COLUMN, model
from bench.zerodowntime.revisions import HERE, alembic, base_revision

# The hints a developer gives `alembic-revision` for this rename, in a terminal or not.
RENAME_HINTS = (f"rename=item.{OLD_COLUMN}:{NEW_COLUMN}", "rename_mode=expand")
ROOTS = {
    "expand": "Expand branch: additive changes, safe while the previous release serves",
    "contract": "Contract branch: removals, once no replica runs the previous release",
}


@dataclass(frozen=True)
class History:
    """A scratch copy of the proof's migration environment, at `ini`."""

    ini: Path

    def script(self) -> ScriptDirectory:
        """Its revisions, as they are now."""
        return ScriptDirectory.from_config(Config(str(self.ini)))

    def release(self) -> SchemaRelease:
        """The schema requirement of a release built from the history as it is now."""
        return release_of(self.script())


def scratch_history(folder: Path) -> History:
    """Copy the environment and the revision creating `item` into `folder`; add the roots."""
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    for name in ("env.py", "script.py.mako"):
        shutil.copy(HERE / "project" / name, folder / "migrations" / name)
    base = base_revision()
    [base_file] = (HERE / "migrations" / "versions").glob(f"{base}_*.py")
    shutil.copy(base_file, versions / base_file.name)
    ini = folder / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    # Quiet: the roots are scaffolding, not news for the bench's reader.
    config = Config(str(ini), cmd_opts=Namespace(quiet=True))
    for label, message in ROOTS.items():
        # The second root starts from a revision that is no longer a head: a splice.
        command.revision(config, message, head=base, branch_label=label, splice=label == "contract")
    return History(ini)


def write_pair(history: History, migration_url: str) -> str:
    """Write release N+1's pair against the database (at release N); the command's output."""
    return alembic(
        migration_url,
        [sys.executable, "-m", "bench.zerodowntime.generated", str(history.ini)],
    )


def main() -> None:
    """Write the pair in the copy whose alembic.ini is argv[1], as `alembic-revision` does."""
    config = Config(sys.argv[1])
    config.attributes["target_metadata"] = model(NEW_COLUMN)
    command.revision(
        config,
        message=f"rename item.{OLD_COLUMN} to {NEW_COLUMN}",
        autogenerate=True,
        head="expand@head",
        process_revision_directives=rename_aware(Hints.parse(RENAME_HINTS), ask=None),
    )


if __name__ == "__main__":
    main()
