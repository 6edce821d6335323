"""The `alembic-stuff` command: serve the API, migrate and review its schema, run its database.

Each group of commands lives in a module of its own; this one puts them under one command.
"""

import logging

import click

from alembic_stuff.cli import database, serving
from alembic_stuff.cli.usage import OneLineUsageGroup


@click.group(cls=OneLineUsageGroup)
def main() -> None:
    """alembic-stuff: the demonstration API and its database (migrations: alembic-toolkit)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")


for command in (
    serving.start,
    serving.serve_command,
    database.db,
):
    main.add_command(command)
