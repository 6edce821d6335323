"""Which answers were stale: reads that differ from every value the key could have held then.

Two releases write the same rows at once, so "the last write" of a key is only defined up to
the writes still in flight. Each request is known by the interval between its sending and its
answer; the server ran it somewhere inside. An observation of a key (a read's value, or a 404
meaning "absent") is correct when it is the value of a write that overlaps it in time, or of
a write that had finished before it was sent and that no later write had finished
overwriting (one sent after that write finished, and itself finished before the observation
was sent). Anything else is a stale or wrong answer: a failure, whichever release gave it.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ABSENT = None
# Statuses a request may answer without failing; anything else (a 5xx, a 422...) fails.
EXPECTED = {
    "read": {200, 404},
    "create": {201},
    "update": {200, 404},
    "delete": {204, 404},
}
# Status recorded for a request that got no HTTP answer (connection refused, reset, timeout).
NO_ANSWER = 0


@dataclass(frozen=True)
class Request:
    """One request of the load, as the client saw it (times in time.monotonic() seconds)."""

    release: str
    operation: str
    key: int | None
    sent: float
    answered: float
    status: int
    # The name sent (create, update) or read back (read); None for a delete or a 404.
    value: str | None = None

    @property
    def latency_ms(self) -> float:
        """Milliseconds from sending to the answer."""
        return (self.answered - self.sent) * 1000

    @property
    def failed(self) -> bool:
        """No answer, or an answer its operation never gives when it works."""
        return self.status not in EXPECTED[self.operation]


@dataclass(frozen=True)
class _Write:
    sent: float
    done: float
    value: str | None


@dataclass(frozen=True)
class Mismatch:
    """An answer no ordering of the writes could explain."""

    request: Request
    allowed: frozenset[str | None]


def mismatches(requests: Iterable[Request], initial: Callable[[int], str | None]) -> list[Mismatch]:
    """The answers in `requests` that were stale; `initial(key)` is a key's value before them."""
    writes: dict[int, list[_Write]] = defaultdict(list)
    observations: dict[int, list[Request]] = defaultdict(list)
    for request in requests:
        if request.key is None:
            continue
        _classify(request, writes[request.key], observations[request.key])
    found = []
    for key, seen in observations.items():
        history = [_Write(float("-inf"), float("-inf"), initial(key)), *writes[key]]
        for observation in seen:
            allowed = _possible_values(history, observation)
            observed = observation.value if observation.status in {200, 201} else ABSENT
            if observed not in allowed:
                found.append(Mismatch(observation, allowed))
    return found


def _classify(request: Request, writes: list[_Write], observations: list[Request]) -> None:
    operation, status = request.operation, request.status
    if request.failed:
        if operation in {"update", "delete"}:
            # It may or may not have been applied, at any time from now on.
            value = request.value if operation == "update" else ABSENT
            writes.append(_Write(request.sent, float("inf"), value))
        return
    if operation == "read" or status == 404:
        observations.append(request)
    elif operation == "update":
        writes.append(_Write(request.sent, request.answered, request.value))
        # The row the update returns must hold what it wrote.
        observations.append(request)
    elif operation == "create":
        # The key was unknown before the answer: nothing can have read it earlier.
        writes.append(_Write(request.sent, request.answered, request.value))
    else:
        writes.append(_Write(request.sent, request.answered, ABSENT))


def _possible_values(history: list[_Write], observation: Request) -> frozenset[str | None]:
    start, end = observation.sent, observation.answered
    if observation.operation == "update" and observation.status == 200:
        # Its own write is the value it returns, unless another landed in the same instant.
        return frozenset(
            write.value for write in history if write.sent < end and write.done > start
        )
    finished = [write for write in history if write.done <= start]
    # A finished write is overwritten once another was sent after it finished (and finished
    # too): the ones left are those that finished after the last finished write was sent.
    last_sent = max(write.sent for write in finished)
    latest = [write for write in finished if write.done >= last_sent]
    overlapping = [write for write in history if write.sent < end and write.done > start]
    return frozenset(write.value for write in (*latest, *overlapping))
