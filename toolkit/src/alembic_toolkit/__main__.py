"""`python -m alembic_toolkit`: the same as the `alembic-toolkit` command."""

from alembic_toolkit.cli import main

main()
