"""The load balancer: it routes requests only to the replicas whose last `/ready` was 200.

As a Kubernetes Service or a cloud load balancer does, it probes every replica it has been
given every `interval` seconds, and sends a request to one of the replicas that are in its
rotation and ready, at random; with none, the request gets the balancer's own 503, as a
client would. Every probe and every change of the rotation is kept, so that afterwards
`readiness` can tell how long no replica was ready (the ready gaps) and which probes found a
replica unready while it should have served.
"""

import asyncio
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from bench.zerodowntime.consistency import NO_ANSWER
from bench.zerodowntime.replicas import Replica

# A probe's own limit: a replica that does not answer by then is not ready.
PROBE_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class Probe:
    """One answer to `/ready` (status NO_ANSWER: none), at time.monotonic() `at`."""

    replica: str
    release: str
    at: float
    status: int
    detail: str = ""


@dataclass(frozen=True)
class Membership:
    """A replica joining the rotation (True) or taken out of it (False), at `at`."""

    replica: str
    at: float
    joined: bool


@dataclass
class Balancer:
    """The rotation, the probes' findings, and their record."""

    interval: float
    probes: list[Probe] = field(default_factory=list)
    changes: list[Membership] = field(default_factory=list)
    rotation: dict[str, Replica] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def pick(self, rng: random.Random) -> Replica | None:
        """A replica to send a request to: in the rotation and ready; None when there is none."""
        candidates = [replica for name, replica in self.rotation.items() if name in self.ready]
        return rng.choice(candidates) if candidates else None

    def join(self, replicas: Iterable[Replica], client: httpx.AsyncClient) -> None:
        """Put `replicas` in the rotation and start probing them (traffic follows their probes)."""
        for replica in replicas:
            self.rotation[replica.name] = replica
            self.changes.append(Membership(replica.name, time.monotonic(), joined=True))
            self._tasks[replica.name] = asyncio.create_task(self._probe(replica, client))

    async def leave(self, replicas: Iterable[Replica]) -> None:
        """Take `replicas` out of the rotation: no new request reaches them; stop probing them."""
        for replica in replicas:
            del self.rotation[replica.name]
            self.ready.discard(replica.name)
            self.changes.append(Membership(replica.name, time.monotonic(), joined=False))
            task = self._tasks.pop(replica.name)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        """Stop every probe."""
        await self.leave(list(self.rotation.values()))

    async def wait_ready(self, replicas: Iterable[Replica], seconds: float) -> None:
        """Wait until every one of `replicas` is ready; fail with their last answer if not."""
        names = {replica.name for replica in replicas}
        deadline = time.monotonic() + seconds
        while not names <= self.ready:
            if time.monotonic() > deadline:
                late = sorted(names - self.ready)
                last = {p.replica: p.detail for p in self.probes if p.replica in late}
                raise RuntimeError(f"replicas {', '.join(late)} never turned ready: {last}")
            await asyncio.sleep(self.interval / 2)

    async def _probe(self, replica: Replica, client: httpx.AsyncClient) -> None:
        while True:
            status, detail = await _ready(client, replica.base)
            self.probes.append(
                Probe(replica.name, replica.release, time.monotonic(), status, detail)
            )
            if status == 200:
                self.ready.add(replica.name)
            else:
                self.ready.discard(replica.name)
            await asyncio.sleep(self.interval)


async def _ready(client: httpx.AsyncClient, base: str) -> tuple[int, str]:
    try:
        response = await client.get(f"{base}/ready", timeout=PROBE_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        return NO_ANSWER, type(exc).__name__
    detail = "" if response.status_code == 200 else response.text[:300]
    return response.status_code, detail


@dataclass(frozen=True)
class Gap:
    """A stretch of time when no replica of the rotation was ready (time.monotonic() seconds)."""

    start: float
    end: float

    @property
    def milliseconds(self) -> float:
        """How long it lasted."""
        return (self.end - self.start) * 1000


def gaps(probes: list[Probe], changes: list[Membership], until: float) -> list[Gap]:
    """Every stretch with no ready replica in the rotation, from the first ready to `until`.

    The state changes only at a probe or a change of the rotation: each such instant either
    leaves a replica ready, or starts (or prolongs) a gap, which ends at the next instant a
    replica is ready again (or at `until`, the end of the run: what comes after, the
    balancer closing, is not the deploy's).
    """
    timeline: list[Probe | Membership] = [*probes, *changes]
    events = sorted((event for event in timeline if event.at <= until), key=lambda e: e.at)
    members: set[str] = set()
    ready: set[str] = set()
    found: list[Gap] = []
    began: float | None = None
    seen_ready = False
    for event in events:
        if isinstance(event, Membership):
            (members.add if event.joined else members.discard)(event.replica)
            if not event.joined:
                ready.discard(event.replica)
        elif event.replica in members:
            (ready.add if event.status == 200 else ready.discard)(event.replica)
        if ready & members:
            seen_ready = True
            if began is not None:
                found.append(Gap(began, event.at))
                began = None
        elif seen_ready and began is None:
            began = event.at
    if began is not None:
        found.append(Gap(began, until))
    return found


def unready_while_serving(probes: list[Probe], changes: list[Membership]) -> list[Probe]:
    """The probes that found a replica unready while it was in the rotation.

    A replica joins the rotation once its process is up, and should serve from then until
    it is taken out: N from the start, through the expand, until it is drained; N+1 from
    joining to the end. An unready answer in that stretch is a release turned away from a
    database it should serve.
    """
    joined = {change.replica: change.at for change in changes if change.joined}
    left = {change.replica: change.at for change in changes if not change.joined}
    return [
        probe
        for probe in probes
        if probe.status != 200
        and joined.get(probe.replica, float("inf")) <= probe.at
        and probe.at < left.get(probe.replica, float("inf"))
    ]
