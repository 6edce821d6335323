"""What an Alembic `env.py` takes from the toolkit, in a few lines.

`guarded_migration` holds the advisory lock (for the commands that change the database) and
the timeouts around the migrations, and keeps the record of applied revisions that readiness
reads (alembic_toolkit.ledger; `ledger.record_applied` is its per-step hook);
`autogenerate_options` makes `alembic revision --autogenerate` rename-aware (`-x rename=...`,
`-x allow_drop=...`). The lines to add to the env.py of `alembic init`'s templates are in
the README, "Use the toolkit in your own Alembic project"; this project's alembic/env.py
uses them too.
"""

import logging
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from alembic import context
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, MetaData
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from alembic_toolkit import ledger, log, objects
from alembic_toolkit.autogen import AUTOGENERATE_PLUGINS
from alembic_toolkit.autogen.compared_schemas import modelled_schemas
from alembic_toolkit.autogen.decisions import Ask
from alembic_toolkit.autogen.hints import Hints
from alembic_toolkit.autogen.renames import rename_aware
from alembic_toolkit.autogen.trial import RENAME_TRIAL, TRIAL_OUTCOME
from alembic_toolkit.inspection import READING
from alembic_toolkit.lock import migration_lock
from alembic_toolkit.silence import ended_when_silent
from alembic_toolkit.timeouts import MigrationLimits, apply_timeouts, timed_out

logger = logging.getLogger(__name__)


@contextmanager
def guarded_migration(
    connection: Connection, *, lock_key: int, limits: MigrationLimits
) -> Iterator[None]:
    """Run the block under `limits`, and under the migration lock when the command writes.

    Only a command that moves the database to revisions (upgrade, downgrade, stamp) takes
    the lock; one that reads (current, check, history, revision --autogenerate) does not
    wait behind a running migration. A cancelled statement is one line, and so is a server
    that stops answering altogether (alembic_toolkit.silence).
    """
    log.enable()  # after env.py's fileConfig(...), which disabled the toolkit's loggers
    writes = moves_revisions()
    lock: AbstractContextManager[None] = (
        migration_lock(connection, lock_key, limits) if writes else nullcontext()
    )
    # A read-only command ran a statement only to try something out (a rename, for
    # autogenerate), in a savepoint it rolled back.
    outcome = "the revision was rolled back" if writes else TRIAL_OUTCOME
    what = "a migration statement" if writes else RENAME_TRIAL
    if context.config.attributes.get(READING):
        outcome, what = "nothing was run", "reading where the database stands"
    silence = ended_when_silent(connection, limits.silence_seconds, limits.silence_name)
    with silence, lock:
        apply_timeouts(connection, limits)
        if writes:
            objects.ensure(connection)
            connection.commit()
        try:
            yield
            if writes:
                _record_where_it_stands(connection)
        except DBAPIError as exc:
            if writes:
                _record_after_a_failure(connection)
            error = timed_out(exc, connection, limits, outcome=outcome, what=what)
            if error is None:
                raise
            raise error from None
        except Exception:
            if writes:
                _record_after_a_failure(connection)
            raise


def _record_where_it_stands(connection: Connection) -> None:
    """Bring the record of applied revisions in line with where the command left the database.

    Each step keeps it in line already (`ledger.record_applied`, passed as `on_version_apply`);
    this covers a command with nothing to apply, a stamp, and a database migrated before the
    record.
    """
    ledger.sync(connection, context.script, context.get_context().get_current_heads())
    connection.commit()


def _record_after_a_failure(connection: Connection) -> None:
    """Record where a failed command left the database: the steps before it are committed.

    A failure here is logged, never raised: the command's own error is the one to report.
    """
    if connection.invalidated:
        return  # the session is gone; the next migration command records it
    try:
        connection.rollback()
        _record_where_it_stands(connection)
    except SQLAlchemyError as exc:
        logger.warning("could not record the applied revisions after the failure: %s", exc)


def moves_revisions() -> bool:
    """Whether the running Alembic command changes the database's revisions.

    Upgrade, downgrade and stamp give env.py a destination revision
    (`EnvironmentContext.get_revision_argument`); commands that only read have none to give.
    """
    try:
        context.get_revision_argument()
    except KeyError:
        return False
    return True


def autogenerate_options(config: Config, target_metadata: MetaData) -> dict[str, Any]:
    """Keyword arguments for `context.configure`: what autogenerate compares, and how it writes.

    Check constraints are compared, only the models' schemas are looked at, and when the
    `alembic revision --autogenerate` command runs, no column or table is dropped unless the
    person at the terminal, or a `-x` hint, said so. A program calling `command.revision`
    passes `process_revision_directives=rename_aware(...)` to it instead.
    """
    options: dict[str, Any] = {
        "compare_type": True,
        "autogenerate_plugins": AUTOGENERATE_PLUGINS,
        "include_schemas": True,
        "include_name": modelled_schemas(target_metadata),
    }
    if getattr(config.cmd_opts, "autogenerate", False):
        options["process_revision_directives"] = rename_aware(
            Hints.parse(context.get_x_argument()), ask=terminal_ask()
        )
    return options


def terminal_ask() -> Ask | None:
    """A yes/no question at the terminal, or None where nobody can answer (CI, a pipe)."""
    if not sys.stdin.isatty():
        return None

    def ask(question: str) -> bool:
        try:
            return input(question).strip().lower() in {"y", "yes"}
        except (EOFError, KeyboardInterrupt):
            # Ctrl-D or Ctrl-C at the question: one line, and nothing written.
            raise CommandError("no answer to the question: no revision written") from None

    return ask
