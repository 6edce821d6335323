"""A rename trial held off by a reader says what it was, and what to do.

Trying a rename takes an ACCESS EXCLUSIVE lock on the target database, in a savepoint rolled
back at once. When a reader holds it off past the lock timeout, the error once called the
trial "a migration statement", though no migration ran.
"""

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.util import CommandError
from alembic_toolkit.autogen.hints import Hints
from alembic_toolkit.autogen.renames import rename_aware
from sqlalchemy import Engine

from alembic_stuff.db.base import Base
from alembic_stuff.db.migrations import alembic_config
from tests.databases import ONTO, Scratch, settings_for


def test_a_rename_trial_waiting_for_a_lock_says_it_was_the_trial(
    scratch: Scratch, engine: Engine
) -> None:
    with engine.begin() as connection:
        # The database before the rename the models have made.
        connection.execute(sa.text("ALTER TABLE country RENAME official_name TO formal_name"))
    config = alembic_config(
        settings_for(scratch.database, migration_lock_timeout_seconds=0.2),
        ini_path=scratch.folder / "alembic.ini",
        configure_logging=False,
    )
    config.attributes["target_metadata"] = Base.metadata
    hints = Hints.parse(["rename=country.formal_name:official_name"])
    with engine.connect() as reader:
        reader.execute(sa.text("SELECT count(*) FROM country"))  # its transaction stays open
        with pytest.raises(CommandError) as refused:
            command.revision(
                config,
                "rename",
                autogenerate=True,
                head=ONTO,
                process_revision_directives=rename_aware(hints, ask=None),
            )
    message = str(refused.value)
    assert message.startswith("autogenerate's rename trial (ALTER ... RENAME, run on this ")
    assert "a migration statement" not in message
    assert "nothing was written: run it again once that session ends" in message
    assert scratch.new_revisions() == []
