"""The cap on what one request may take: its time.

No request can hold a client (and a worker's share of the pool) for as long as a hung
database hangs. Sizes and slow clients are bounded at the edge, by nginx (deploy/nginx).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alembic_stuff.api.errors import RETRY_AFTER_SECONDS

log = logging.getLogger(__name__)
T = TypeVar("T")


class DeadlineExceededError(TimeoutError):
    """The awaited work did not finish in time; it was cancelled and is being cleaned up."""


# Cancelled work still cleaning up: referenced so that it is not garbage-collected midway.
_cleaning_up: set[asyncio.Task[Any]] = set()


async def finish_within(seconds: float, work: Awaitable[T]) -> T:
    """Return `work`'s result, or raise DeadlineExceededError once `seconds` have passed.

    On the deadline the work is cancelled, but not waited for: SQLAlchemy closes a connection
    cancelled mid-statement gracefully, waiting up to two seconds more for a server that may
    be the very thing that hangs. The cleanup goes on in the background; the caller answers.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task in done:
        return task.result()
    task.cancel()
    _cleaning_up.add(task)
    task.add_done_callback(_forget)
    raise DeadlineExceededError(f"no answer within {seconds:g} s")


def _forget(task: asyncio.Task[Any]) -> None:
    _cleaning_up.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.debug("cancelled work ended with %r", task.exception())


class _Expiry:
    """A timer that cancels the current task at a deadline, and again until it ends.

    Cheaper than running the request in a task of its own: one timer a request. The first
    cancellation interrupts whatever the request waits for; its cleanup may wait too (on a
    hung server, SQLAlchemy closes a cancelled connection gracefully, for up to 2 s, unless
    cancelled again, when it drops it at once), so the task is cancelled again every
    RECANCEL_SECONDS until the request returns.
    """

    RECANCEL_SECONDS = 0.05

    def __init__(self, seconds: float, on_expiry: Callable[[], None]) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("RequestDeadline runs inside a task")
        self.task: asyncio.Task[Any] = task
        self.on_expiry = on_expiry
        self.cancels = 0
        self.loop = asyncio.get_running_loop()
        self.timer = self.loop.call_later(seconds, self._cancel)

    def _cancel(self) -> None:
        if not self.cancels:
            self.on_expiry()
        self.cancels += 1
        self.task.cancel()
        self.timer = self.loop.call_later(self.RECANCEL_SECONDS, self._cancel)

    async def stop(self) -> bool:
        """Stop the timer; True if it expired (its cancellations taken back), else False.

        Raises CancelledError if someone else cancelled the task meanwhile.
        """
        self.timer.cancel()
        if not self.cancels:
            return False
        # A cancellation requested while the task was about to run, not waiting, is delivered
        # at its next await: here, rather than in the server after the request.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
        for _ in range(self.cancels):
            self.task.uncancel()
        if self.task.cancelling():
            raise asyncio.CancelledError
        return True


class RequestDeadline:
    """Answer 503 with Retry-After to a request not answered within `seconds`.

    Whatever the request waits for (a pooled connection, a connection being opened, a
    statement's reply, a lock) is cancelled at the deadline. A request still waiting for its
    body then is the client's delay, not the server's: 408, and the connection closes.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; answer 503 if it has not started its response by the deadline."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = abandoned = reading = client_late = False

        # Whether the request waits for its body is known only while it waits: a route that
        # never reads its body (a GET with one) and waits on the database is the server's delay.
        async def watched_receive() -> Message:
            nonlocal reading
            reading = True
            try:
                return await receive()
            finally:
                reading = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if abandoned:  # the deadline answers: the cancelled request must not answer too
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        def abandon() -> None:
            nonlocal abandoned, client_late
            abandoned = True
            client_late = reading

        expiry = _Expiry(self.seconds, abandon)
        try:
            await self.app(scope, watched_receive, guarded_send)
        except asyncio.CancelledError:
            if not await expiry.stop():
                raise
        except Exception as exc:
            if not await expiry.stop():
                raise
            log.debug("cancelled request ended with %r", exc)
        else:
            if not await expiry.stop():
                return
        if started:  # too late for another status: the client sees the response cut
            raise DeadlineExceededError(f"no answer within {self.seconds:g} s")
        if client_late:
            late = JSONResponse(
                {"detail": f"The request body did not arrive within {self.seconds:g} s."},
                status_code=408,
                headers={"Connection": "close"},
            )
            await late(scope, receive, send)
            return
        response = JSONResponse(
            {"detail": f"No answer within {self.seconds:g} s; try again shortly."},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        await response(scope, receive, send)
