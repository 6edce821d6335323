"""How a backfill reports its progress: a bar on a terminal, a line every few seconds otherwise."""

import sys
import time
from typing import Protocol, TextIO

BAR_WIDTH = 30
# Without a terminal (CI logs, a deploy job), one line at most this often.
LINE_INTERVAL = 5.0


class Progress(Protocol):
    """Receives a backfill's progress; `StreamProgress` writes it to a stream."""

    def start(self, label: str, done: int, total: int | None) -> None:
        """The backfill begins (or resumes) with `done` rows already written."""

    def skip(self, label: str, done: int) -> None:
        """The backfill finished in an earlier run, after writing `done` rows."""

    def advance(self, done: int) -> None:
        """A batch was committed; `done` rows are written in all."""

    def finish(self, done: int, rows: int, seconds: float) -> None:
        """The backfill is complete: `rows` written by this run in `seconds`."""


class StreamProgress:
    """Writes progress to a stream: a redrawn bar when it is a terminal, plain lines when not."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._terminal = self._stream.isatty()
        self._label = ""
        self._total: int | None = None
        self._started = 0.0
        self._resumed_at = 0
        self._last_line = 0.0

    def start(self, label: str, done: int, total: int | None) -> None:
        """Say what is being backfilled, and from where."""
        self._label, self._total, self._resumed_at = label, total, done
        self._started = self._last_line = time.monotonic()
        resumed = f", resuming after {done:,} rows" if done else ""
        estimate = f" of about {total:,}" if total is not None else ""
        self._stream.write(f"backfill {label}: started{resumed}{estimate}\n")
        self._stream.flush()

    def skip(self, label: str, done: int) -> None:
        """Say there is nothing to do."""
        self._stream.write(f"backfill {label}: already done ({done:,} rows), nothing to do\n")
        self._stream.flush()

    def advance(self, done: int) -> None:
        """Redraw the bar, or write a line when the last one is old enough."""
        now = time.monotonic()
        if self._terminal:
            self._stream.write(f"\r{self._bar(done, now)}")
        elif now - self._last_line >= LINE_INTERVAL:
            self._last_line = now
            self._stream.write(f"backfill {self._label}: {self._status(done, now)}\n")
        else:
            return
        self._stream.flush()

    def finish(self, done: int, rows: int, seconds: float) -> None:
        """Write the summary line with the rate."""
        if self._terminal:
            self._stream.write(f"\r{self._bar(done, time.monotonic())}\n")
        rate = rows / seconds if seconds > 0 else float(rows)
        self._stream.write(
            f"backfill {self._label}: done, {rows:,} rows in {seconds:.1f} s "
            f"({rate:,.0f} rows/s), {done:,} in all\n"
        )
        self._stream.flush()

    def _status(self, done: int, now: float) -> str:
        elapsed = now - self._started
        rate = (done - self._resumed_at) / elapsed if elapsed > 0 else 0.0
        of = f" of ~{self._total:,} ({self._fraction(done):.0%})" if self._total else ""
        return f"{done:,}{of} rows, {rate:,.0f} rows/s"

    def _bar(self, done: int, now: float) -> str:
        filled = round(self._fraction(done) * BAR_WIDTH) if self._total else 0
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return f"backfill {self._label} [{bar}] {self._status(done, now)}"

    def _fraction(self, done: int) -> float:
        # The total is an estimate: never claim 100% before the end.
        return min(done / self._total, 0.99) if self._total else 0.0
