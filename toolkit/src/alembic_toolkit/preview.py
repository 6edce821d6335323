"""The SQL a range of revisions would run, without a database (Alembic's offline mode)."""

import io

from alembic import command
from alembic.config import Config


def offline_sql(config: Config, revisions: str, *, downgrade: bool = False) -> str:
    """Return the SQL that `alembic upgrade|downgrade <revisions> --sql` writes."""
    buffer = io.StringIO()
    previous, config.output_buffer = config.output_buffer, buffer
    try:
        (command.downgrade if downgrade else command.upgrade)(config, revisions, sql=True)
    finally:
        config.output_buffer = previous
    return buffer.getvalue()
