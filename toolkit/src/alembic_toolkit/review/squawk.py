"""Lint each revision's upgrade SQL with squawk, the PostgreSQL migration linter.

The SQL comes from Alembic's offline mode, one revision at a time (without the revisions it
depends on, see `preview.revision_sql`), so that a finding names its revision and a revision
can accept a rule for itself with a reason:

    squawk_accepts = {"renaming-column": "why this is fine here"}

Rules excluded for every revision, each with its reason, are in the project's .squawk.toml
(next to alembic.ini unless another file is given).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import traceback
from collections.abc import Iterator
from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory

from alembic_toolkit.preview import InseparableSQLError, revision_sql
from alembic_toolkit.review.markers import SQUAWK_ACCEPTS, is_reason, read_marker
from alembic_toolkit.review.remedies import remedy


class SquawkNotFoundError(RuntimeError):
    """The squawk binary (from the squawk-cli package) is not installed."""


class EnvironmentFailedError(RuntimeError):
    """env.py itself failed: no revision can be written as SQL, so none can be linted."""


def revisions(config: Config) -> list[Script]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(config)
    return list(reversed(list(script.walk_revisions("base", "heads"))))


def lint(config: Config, settings_file: Path | None = None) -> Iterator[str]:
    """Yield squawk's findings, one line each, for the upgrade SQL of every revision."""
    squawk = squawk_binary()
    if squawk is None:
        raise SquawkNotFoundError(
            "squawk is not installed: install the squawk-cli package (alembic-toolkit[lint])"
        )
    if settings_file is None and config.config_file_name is not None:
        settings_file = Path(config.config_file_name).parent / ".squawk.toml"
    project_wide: list[str] = []
    if settings_file is not None and settings_file.is_file():
        project_wide = tomllib.loads(settings_file.read_text()).get("excluded_rules", [])
    env_py = Path(ScriptDirectory.from_config(config).env_py_location).resolve()
    with tempfile.TemporaryDirectory() as folder:
        for revision in revisions(config):
            path = _shown(Path(revision.path))
            accepted = read_marker(Path(revision.path), SQUAWK_ACCEPTS)
            for rule, reason in accepted.items():
                if not is_reason(reason):
                    yield f"{path}: {SQUAWK_ACCEPTS}[{rule!r}] needs a reason, not {reason!r}"
            sql_file = Path(folder) / f"{path.stem}.sql"
            try:
                # Its own SQL alone: a revision's findings, and its acceptances, are its own,
                # never those of the revisions it depends on.
                sql_file.write_text(revision_sql(config, revision.revision))
            except InseparableSQLError as exc:
                yield (
                    f"{path}: its upgrade SQL cannot be linted alone: {exc}; give it at most "
                    "two parents (down_revision and depends_on)"
                )
                continue
            except Exception as exc:  # a revision's own code, failing without a database
                if _raised_in_env_py(exc, env_py):
                    # Every revision would fail alike: one line, about env.py, not the revisions.
                    raise EnvironmentFailedError(
                        f"{_shown(env_py)} failed ({type(exc).__name__}: {exc}), so "
                        "no revision can be linted: run alembic-toolkit where env.py's imports "
                        "work (the project's folder and virtual environment), or fix env.py"
                    ) from exc
                yield (
                    f"{path}: its upgrade cannot be written as SQL without a database "
                    f"({type(exc).__name__}: {exc}); make it work in offline mode "
                    "(`context.is_offline_mode()`) so it can be linted and previewed"
                )
                continue
            command = [squawk, "--reporter", "gcc"]
            if settings_file is not None and settings_file.is_file():
                command.append(f"--config={settings_file}")
            # --exclude replaces the configuration's list rather than adding to it.
            excluded = sorted(set(project_wide) | set(accepted))
            if excluded:
                command.append(f"--exclude={','.join(excluded)}")
            result = subprocess.run(
                [*command, str(sql_file)], capture_output=True, text=True, check=False
            )
            sql = sql_file.read_text()
            for line in result.stdout.splitlines():
                if ": warning: " in line or ": error: " in line:
                    finding = _with_remedy(line.removeprefix(str(sql_file)), sql)
                    yield f"{path} (upgrade SQL) {finding}"
            if result.returncode != 0 and not result.stdout.strip():
                yield f"{path}: squawk failed: {result.stderr.strip()}"


def _with_remedy(finding: str, sql: str) -> str:
    """Squawk's `:line:col: warning: rule message`, with the model change when one is known."""
    match = re.match(r":(\d+):\d+: (?:warning|error): (\S+)", finding)
    change = match and remedy(match.group(2), sql, int(match.group(1)))
    return f"{finding} -> {change}" if change else finding


def _raised_in_env_py(exc: BaseException, env_py: Path) -> bool:
    """Whether env.py, not the revision, is the last of the project's files `exc` passed.

    A revision's upgrade() always runs under env.py; a failure in the revision has the
    revision's file deeper in the traceback, while a failed import in env.py does not.
    """
    if isinstance(exc, SyntaxError) and exc.filename:  # it never ran: no frame of its own
        return Path(exc.filename).resolve() == env_py
    project = env_py.parent
    ours = [
        Path(frame.filename).resolve()
        for frame in traceback.extract_tb(exc.__traceback__)
        if Path(frame.filename).resolve().is_relative_to(project)
    ]
    return bool(ours) and ours[-1] == env_py


def squawk_binary() -> str | None:
    """Squawk on PATH, or beside this Python (a virtual environment not activated)."""
    beside = Path(sys.executable).parent / "squawk"
    return shutil.which("squawk") or (str(beside) if beside.is_file() else None)


def _shown(path: Path) -> Path:
    """`path` relative to the working folder, as people and editors expect it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
