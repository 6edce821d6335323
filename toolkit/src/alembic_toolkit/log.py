"""The toolkit's warnings reach the person running Alembic, whatever env.py did to logging.

Alembic's stock env.py calls `fileConfig(config.config_file_name)`, whose default
`disable_existing_loggers=True` silences every logger that exists by then: the toolkit's, made
when env.py imported it. Its warnings (another migration holds the lock, so this one waits; a
new revision depends on a head it did not start from) then never print. `guarded_migration`
calls `enable` once env.py has configured logging; levels and handlers stay as the project set
them, and `fileConfig(..., disable_existing_loggers=False)` in env.py does the same for all.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

# The toolkit's modules that warn, by logger name.
LOGGERS = ("alembic_toolkit.lock", "alembic_toolkit.autogen.renames", "alembic_toolkit.environment")


def enable() -> None:
    """Turn the toolkit's loggers back on after `logging.config.fileConfig` turned them off."""
    for name in LOGGERS:
        # `disabled` is the flag fileConfig sets; nothing else in logging undoes it.
        logging.getLogger(name).disabled = False


_quiet_depth = 0


@contextmanager
def quiet() -> Iterator[None]:
    """Hold back INFO logs (env.py's configuration narrates each run); warnings still print."""
    global _quiet_depth
    _quiet_depth += 1
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        _quiet_depth -= 1
        if _quiet_depth == 0:
            logging.disable(logging.NOTSET)
