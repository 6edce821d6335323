"""The replicas of each release: uvicorn processes, started and stopped as a rollout does.

A replica is one uvicorn process serving one release (bench/zerodowntime/releases.py) on a
free port, with the database settings the app is given (DATABASE_URL, direct or the
pooler's, and DATABASE_POOLER). `Fleet`
starts them, waits until each process answers `/health` (alive; whether it is ready is the
load balancer's business, bench/zerodowntime/balancer.py), stops one with SIGTERM as an
orchestrator does (uvicorn finishes the requests in flight, then exits), and stops whatever
is left when the run ends, however it ends.
"""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from alembic_toolkit.compatibility import SchemaRelease

from bench.zerodowntime.releases import COLUMN_VARIABLE, RELEASE_VARIABLE, dumps
from bench.zerodowntime.revisions import ROOT
from support.http import answers
from support.scratch import free_port

FACTORY = "bench.zerodowntime.releases:from_environment"
# Bounds: a replica that does not answer /health by then failed to start; one still running
# after SIGTERM and the grace period is killed.
START_SECONDS = 60.0
GRACE_SECONDS = 5
STOP_SECONDS = 20.0


@dataclass(frozen=True)
class Build:
    """A release as it is deployed: its label, the column it uses and its schema requirement."""

    label: str
    column: str
    schema: SchemaRelease


@dataclass
class Replica:
    """One running replica."""

    name: str
    release: str
    base: str
    process: subprocess.Popen[bytes]
    log: Path


class Fleet:
    """Every replica of the run: `database` is how they reach it, with `pool_size` connections."""

    def __init__(self, database: dict[str, str], pool_size: int) -> None:
        self.environment = {**os.environ, **database, "DATABASE_POOL_SIZE": str(pool_size)}
        self.replicas: list[Replica] = []
        self.logs = Path(tempfile.mkdtemp(prefix="zero-downtime-replicas-"))

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for replica in self.replicas:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            _reap(replica.process)
        shutil.rmtree(self.logs, ignore_errors=True)

    async def start(self, build: Build, count: int) -> list[Replica]:
        """Start `count` replicas of `build`; return them once each answers /health."""
        started: list[Replica] = []
        for _ in range(count):
            started.append(self._spawn(build))
            self.replicas.append(started[-1])
        alive = await asyncio.gather(
            *(
                asyncio.to_thread(answers, f"{r.base}/health", r.process, START_SECONDS)
                for r in started
            )
        )
        for replica, up in zip(started, alive, strict=True):
            if not up:
                raise RuntimeError(
                    f"replica {replica.name} did not start: {replica.log.read_text()[-2000:]}"
                )
        return started

    def _spawn(self, build: Build) -> Replica:
        port = free_port()
        same = [replica for replica in self.replicas if replica.release == build.label]
        name = f"{build.label}#{len(same) + 1}"
        log = self.logs / f"replica-{len(self.replicas) + 1}.log"
        environment = {
            **self.environment,
            COLUMN_VARIABLE: build.column,
            RELEASE_VARIABLE: dumps(build.schema),
        }
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            FACTORY,
            "--factory",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--timeout-graceful-shutdown",
            str(GRACE_SECONDS),
        ]
        # Its log (a traceback for each 500 of the one-step rename) goes to a file.
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                # In a session of its own, like the sampler and the migrator: Ctrl-C at the
                # terminal reaches the harness alone, which stops them in order (each would
                # otherwise die at once, with a traceback of its own, under the run's feet).
                start_new_session=True,
            )
        return Replica(name, build.label, f"http://127.0.0.1:{port}", process, log)

    async def stop(self, replicas: list[Replica]) -> None:
        """Stop `replicas` as an orchestrator does: SIGTERM, then wait for them to exit."""
        for replica in replicas:
            replica.process.send_signal(signal.SIGTERM)
        await asyncio.gather(*(asyncio.to_thread(_reap, r.process) for r in replicas))


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
