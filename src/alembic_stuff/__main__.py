"""`python -m alembic_stuff` runs the `alembic-stuff` command."""

from alembic_stuff.entry import run

run()
