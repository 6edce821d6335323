"""A replica's entry in the registry of serving replicas, renewed while the app serves.

`alembic-contract` reads the registry before it removes anything a serving release still
uses (alembic_toolkit.serving). The entry is written before the app takes its first request,
renewed every `REPLICA_HEARTBEAT_SECONDS`, and removed at shutdown; a replica killed without
a shutdown drops out when its entry expires, after three missed renewals.

A replica that cannot renew (a database that hangs, a lock held on its entry) must not go on
serving once its entry may have expired, since a contract would then run under it: /ready
answers 503 from one renewal interval before that (`Heartbeat.problem`). A failed renewal is
retried within a second, so that it comes back, or first registers, soon.
"""

import asyncio
import logging
import time
from contextlib import suppress

from alembic_toolkit import serving
from sqlalchemy.exc import DBAPIError

from alembic_stuff.api.limits import DeadlineExceededError, finish_within
from alembic_stuff.db.database import Database
from alembic_stuff.schema_release import RELEASE

log = logging.getLogger(__name__)

LABEL = "alembic-stuff"
# How long start-up waits for the first entry: a database that hangs must not hold the app
# back from answering /health (the renewals keep trying).
FIRST_BEAT_SECONDS = 2.0
# How soon a failed renewal is tried again, at most: it is one cheap statement.
RETRY_SECONDS = 1.0


class Heartbeat:
    """Keeps one replica's registry entry alive from `start` to `stop`."""

    def __init__(self, database: Database, interval_seconds: float) -> None:
        self.database = database
        self.interval = interval_seconds
        self.replica = serving.Replica(LABEL, RELEASE)
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        # When the newest renewal that succeeded was sent (time.monotonic()): the entry
        # lives at least the time to live from then.
        self._renewed_from: float | None = None

    @property
    def ttl_seconds(self) -> float:
        """How long an entry lives without a renewal."""
        return self.interval * serving.MISSED_BEATS

    @property
    def unready_after_seconds(self) -> float:
        """How long after a renewal was sent, with none since, the replica answers unready."""
        # One interval before the entry can expire: out of rotation before a contract can see
        # it gone, with an interval for the orchestrator's probes to notice.
        return self.ttl_seconds - self.interval

    def problem(self) -> str | None:
        """Why this replica must not serve for want of a registry entry, or None."""
        if self._renewed_from is None:
            return (
                "this replica is not in the registry of serving replicas yet (its heartbeat "
                "has not succeeded), so alembic-contract cannot see it"
            )
        since = time.monotonic() - self._renewed_from
        if since <= self.unready_after_seconds:
            return None
        return (
            f"this replica's entry in the registry of serving replicas was last renewed "
            f"{since:.0f} s ago and expires {self.ttl_seconds:g} s after that: out of "
            "rotation until a renewal succeeds, so that no contract runs under it"
        )

    async def start(self) -> None:
        """Write the entry once, then keep renewing it in the background."""
        await self._beat(min(self.interval, FIRST_BEAT_SECONDS))
        self._task = asyncio.create_task(self._renew(), name="registry-heartbeat")

    async def stop(self) -> None:
        """Stop renewing, and remove the entry if the database answers in time."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        with suppress(DBAPIError, OSError, DeadlineExceededError):
            await finish_within(
                self.interval, self.database.transaction(serving.leave, self.replica)
            )

    async def _renew(self) -> None:
        while True:
            retry = min(self.interval, RETRY_SECONDS)
            await asyncio.sleep(retry if self._failing else self.interval)
            await self._beat(self.interval)

    async def _beat(self, seconds: float) -> None:
        sent = time.monotonic()
        try:
            await finish_within(
                seconds,
                self.database.transaction(
                    serving.heartbeat,
                    self.replica,
                    self.ttl_seconds,
                    # The server gives up first (after twice this at most), on a lock held on
                    # the entry too: the renewal fails cleanly, on a connection fit for the next.
                    timeout_seconds=seconds / 3,
                ),
            )
        except (DBAPIError, OSError, DeadlineExceededError) as exc:
            # Once per outage: a database that is down says so in /ready and every request.
            if not self._failing:
                log.warning(
                    "cannot renew this replica's entry in the registry of serving replicas "
                    "(alembic-contract cannot see it until it can): %s",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                )
            self._failing = True
            return
        if self._failing:
            log.info("the registry of serving replicas has this replica's entry again")
        self._failing = False
        self._renewed_from = sent
