"""The deploy job of the proof: runs `alembic upgrade <target>` for each target it is sent.

`python -m bench.zero_downtime.migrator` reads one target a line on stdin (`expand@head`,
`contract@head`), upgrades the database named by ZERO_DOWNTIME_DATABASE_URL to it with the
proof's revisions, and answers `ok` or `failed: <message>` on one line of stdout. It is
started before the load, so that the change's timing is the migration's own, not Python's
and Alembic's start-up on a busy machine. The backfill's progress goes to stderr.
"""

import sys

from alembic import command
from alembic.config import Config

from bench.zero_downtime.revisions import ALEMBIC_INI


def main() -> None:
    """Upgrade to each target read from stdin, answering each on stdout."""
    config = Config(str(ALEMBIC_INI))
    print("ready", flush=True)
    for line in sys.stdin:
        target = line.strip()
        try:
            command.upgrade(config, target)
        except Exception as error:  # any failure is the answer, on one line
            message = " ".join(str(error).split())
            print(f"failed: {type(error).__name__}: {message}", flush=True)
        else:
            print("ok", flush=True)


if __name__ == "__main__":
    main()
