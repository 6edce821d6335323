"""The deploy job of the proof: runs `alembic upgrade <target>` for each target it is sent.

`python -m bench.zerodowntime.migrator INI` reads one target a line on stdin (`expand@head`,
`contract@head`), upgrades the database named by ZERO_DOWNTIME_DATABASE_URL (always a direct
URL: a migration's advisory lock cannot live behind a transaction pooler) to it with the
revisions of INI, and answers `ok` or `failed: <message>` on one line of stdout. It is
started before the load, so that the change's timing is the migration's own, not Python's
and Alembic's start-up on a busy machine. The backfill's progress goes to stderr.
`migrator()` starts it and drives it from the harness.
"""

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config

from bench.zerodowntime.revisions import ROOT, environment

# A migration still running after this long has hung (its lock retries give up well before).
MIGRATION_SECONDS = 300.0


class Migrator:
    """The deploy job's process, started ahead of the change."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output = ""  # its stderr (the backfill's progress), once it has stopped

    async def upgrade(self, target: str) -> None:
        """Upgrade to `target`; fail with the migration's message if it fails."""
        assert self.process.stdin is not None  # noqa: S101 - piped
        assert self.process.stdout is not None  # noqa: S101 - piped
        self.process.stdin.write(f"{target}\n".encode())
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), MIGRATION_SECONDS)
        answer = line.decode().strip()
        if answer != "ok":
            raise RuntimeError(f"alembic upgrade {target}: {answer or 'no answer'}")


@asynccontextmanager
async def migrator(migration_url: str, ini: Path) -> AsyncIterator[Migrator]:
    """Start the deploy job's process on the revisions of `ini`; wait until it is ready."""
    with tempfile.TemporaryDirectory(prefix="zero-downtime-") as folder:
        log = Path(folder) / "migrator.log"
        with log.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.zerodowntime.migrator",
                str(ini),
                cwd=ROOT,
                env=environment(migration_url),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
                start_new_session=True,  # see replicas.py
            )
        running = Migrator(process)
        try:
            assert process.stdout is not None  # noqa: S101 - piped
            if (await process.stdout.readline()).strip() != b"ready":
                raise RuntimeError(f"the migrator did not start: {log.read_text()}")
            yield running
        except BaseException:
            # Failed or interrupted (Ctrl-C cancels the run): the migration it may be running
            # is not waited for; its scratch database is dropped.
            process.kill()
            raise
        finally:
            if process.stdin is not None:
                process.stdin.close()
            await process.wait()
            running.output = log.read_text()


def main() -> None:
    """Upgrade to each target read from stdin, answering each on stdout."""
    config = Config(sys.argv[1])
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
