"""The upgrade `start` runs before it serves: the toolkit's guarded upgrade, in one line each.

The migration commands themselves are the toolkit's (`alembic-toolkit upgrade | expand |
contract`, the Pipfile's `alembic-latest`, `alembic-expand`, `alembic-contract`).
"""

import click
from alembic.util import CommandError
from alembic_toolkit.commands import TARGETS
from alembic_toolkit.upgrades import EVERY_HEAD, UpgradeRefusedError, guarded_upgrade

from alembic_stuff.db.migrations import alembic_config
from alembic_stuff.settings import Settings


def upgrade_before_serving(
    settings: Settings, *, skip_guard: bool, force: bool, when_blocked: str
) -> None:
    """Upgrade to every head, or to `when_blocked` while an older release serves; say what ran."""
    try:
        done = guarded_upgrade(
            alembic_config(settings),
            EVERY_HEAD,
            skip_guard=skip_guard,
            force=force,
            when_blocked=when_blocked,
        )
    except UpgradeRefusedError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.ClickException(str(exc)) from None
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    if done.notice is not None:
        click.echo(done.notice, err=True)
    click.echo(
        f"upgraded: {done.applied} revision(s) applied"
        if done.applied
        else f"the database is at {TARGETS.get(done.target, done.target)}",
        err=True,
    )
