"""The lock-wait sampler: how long any session of one database waited for a lock, sampled.

`python -m bench.zerodowntime.sampler DSN [INTERVAL_MS]` asks `pg_locks` every few
milliseconds which lock requests are not granted yet, and since when (`waitstart`, PostgreSQL
14 and later), until it receives SIGTERM; then it prints one JSON object to stdout: the
longest waits seen, and a time series (CLOCK_MONOTONIC seconds, comparable with
`time.monotonic()` in another process on the machine) for the chart.

It runs in a process of its own so that polling does not take the load generator's GIL. A
wait is seen at most one interval before it ends: the figures are lower bounds, short by at
most the interval, and a wait shorter than the interval may not be seen at all.
`sampling()` runs it beside the harness and reads what it saw.
"""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from types import FrameType

import psycopg

from bench.zerodowntime.revisions import ROOT

# Ungranted lock requests in this database, other than the sampler's own, with how long each
# has waited so far; `waitstart` is briefly NULL when a wait begins.
WAITING = """
SELECT lock.pid, lock.waitstart::text, lock.locktype, lock.mode,
       coalesce(lock.relation::regclass::text, ''),
       extract(epoch FROM clock_timestamp() - lock.waitstart) * 1000,
       coalesce(activity.backend_type, ''), left(coalesce(activity.query, ''), 200)
FROM pg_locks AS lock
JOIN pg_stat_activity AS activity ON activity.pid = lock.pid
WHERE NOT lock.granted AND lock.waitstart IS NOT NULL
  AND activity.datname = current_database() AND lock.pid <> pg_backend_pid()
"""
KEPT_WAITS = 5


@dataclass
class Wait:
    """One lock wait, as long as it was seen to last."""

    milliseconds: float
    pid: int
    locktype: str
    mode: str
    relation: str
    backend: str
    query: str


def sample(dsn: str, interval: float) -> dict[str, object]:
    """Sample until SIGTERM; the longest waits and the series of the longest current wait."""
    stop = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    waits: dict[tuple[int, str], Wait] = {}
    series: list[tuple[float, float]] = []
    samples = 0
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as connection:
        print("ready", file=sys.stderr, flush=True)
        while not stop:
            now = time.monotonic()
            rows = connection.execute(WAITING).fetchall()
            samples += 1
            longest = 0.0
            for pid, since, locktype, mode, relation, waited, backend, query in rows:
                milliseconds = float(waited)
                longest = max(longest, milliseconds)
                known = waits.get((pid, since))
                if known is None or known.milliseconds < milliseconds:
                    waits[pid, since] = Wait(
                        milliseconds, pid, locktype, mode, relation, backend, query
                    )
            series.append((round(now, 4), round(longest, 2)))
            time.sleep(interval)
    elapsed = time.monotonic() - started
    longest_waits = sorted(waits.values(), key=lambda wait: -wait.milliseconds)[:KEPT_WAITS]
    return {
        "samples": samples,
        "mean_interval_ms": elapsed * 1000 / max(samples, 1),
        "waits_seen": len(waits),
        "longest": [asdict(wait) for wait in longest_waits],
        "series": series,
    }


class Sampler:
    """The lock-wait sampler's process."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._result: dict[str, object] | None = None

    def stop(self) -> None:
        """Stop sampling and read what it saw."""
        if self._result is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        output, errors = self.process.communicate(timeout=30)
        if self.process.returncode != 0 or not output.strip():
            raise RuntimeError(f"the lock sampler failed: {errors.strip()}")
        self._result = json.loads(output)

    def result(self) -> dict[str, object]:
        """What it saw (it is stopped first)."""
        self.stop()
        assert self._result is not None  # noqa: S101 - stop() sets it or raises
        return self._result


@contextmanager
def sampling(dsn: str, interval_ms: float) -> Iterator[Sampler]:
    """Sample lock waits on the database in a process of its own while the block runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.zerodowntime.sampler", dsn, str(interval_ms)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # see replicas.py
    )
    sampler = Sampler(process)
    try:
        assert process.stderr is not None  # noqa: S101 - piped above
        if process.stderr.readline().strip() != "ready":
            raise RuntimeError("the lock sampler did not start")
        yield sampler
    finally:
        # Not stopped by the block: the run failed or was interrupted, and what the sampler
        # saw is not wanted (reading it could wait on a full pipe).
        if process.poll() is None:
            process.kill()
            process.communicate()


def main() -> None:
    """Sample the database DSN (argv[1]) every argv[2] ms (default 5) until SIGTERM."""
    interval = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.005
    print(json.dumps(sample(sys.argv[1], interval)), flush=True)


if __name__ == "__main__":
    main()
