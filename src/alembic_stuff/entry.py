"""The `alembic-stuff` command's entry point, which imports nothing heavy itself.

The CLI imports SQLAlchemy, Alembic and FastAPI before it can run anything, which takes a
moment: Ctrl-C in that moment ends in one line here instead of a traceback of the imports.
"""

import sys

from alembic_stuff.interrupts import INTERRUPTED


def run() -> None:
    """Load the CLI and run it."""
    try:
        from alembic_stuff.cli import main
    except KeyboardInterrupt:
        print("interrupted while loading: nothing was done", file=sys.stderr)
        sys.exit(INTERRUPTED)
    main()
