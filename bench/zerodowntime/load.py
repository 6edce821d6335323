"""The proof's traffic: mixed reads and writes, sent where the load balancer routes them.

Workers send reads of random keys, creates, renames and deletes at a steady rate, each to
the replica the balancer picks (bench/zerodowntime/balancer.py), and record every request
as the client saw it (bench/zerodowntime/consistency.py checks the answers afterwards).
Half of the reads and renames go to a few hot keys, so that both releases write and read
the same rows often, and some reads go back to the keys created last (a create through one
release, read through the other). A request the balancer has no ready replica for gets its
503, and fails.
"""

import asyncio
import random
import time

import httpx

from bench.zerodowntime.balancer import Balancer
from bench.zerodowntime.consistency import NO_ANSWER, Request

HOT_KEYS = 64
HOT_SHARE = 0.5
RECENT_KEYS = 64
# What a load balancer answers when it has no ready replica to send a request to.
NO_REPLICA_STATUS = 503
NO_REPLICA = "none"
REQUEST_TIMEOUT_SECONDS = 5.0


class Load:
    """Mixed traffic through `balancer` at `rate` requests per second, every request recorded."""

    def __init__(
        self, balancer: Balancer, client: httpx.AsyncClient, rows: int, rate: float, seed: int
    ) -> None:
        self.balancer = balancer
        self.client = client
        self.rate = rate
        self.seed = seed
        self.requests: list[Request] = []
        self.keys = list(range(1, rows + 1))
        # Seeded, for runs that can be compared.
        seeded = random.Random(seed)  # noqa: S311 - picks load keys, draws nothing secret
        self.hot = seeded.sample(self.keys, min(HOT_KEYS, rows))
        hot = set(self.hot)
        # Deletes go to other keys, so that the hot ones stay hot.
        self.deletable = [key for key in self.keys if key not in hot]
        self.recent: list[int] = []
        self.running = True
        self.written = 0

    async def worker(self, number: int, workers: int) -> None:
        """Send requests at this worker's share of the rate until stopped."""
        rng = random.Random(self.seed + number)  # noqa: S311 - load, not secrets
        interval = workers / self.rate
        next_at = time.monotonic() + rng.random() * interval
        while self.running:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            # Late (the machine is busy): send now, without a burst to catch up.
            next_at = max(next_at + interval, time.monotonic())
            await self.one(rng, number)

    def _key(self, rng: random.Random) -> int:
        roll = rng.random()
        if roll < HOT_SHARE:
            return rng.choice(self.hot)
        if roll < HOT_SHARE + 0.1 and self.recent:
            return rng.choice(self.recent)
        return rng.choice(self.keys)

    async def one(self, rng: random.Random, number: int) -> None:
        """One request: a read, create, rename or delete, through the replica picked for it."""
        replica = self.balancer.pick(rng)
        roll = rng.random()
        self.written += 1
        name = f"w{number}-{self.written}"
        key: int | None
        if roll < 0.55:
            operation, key, value, method, path = "read", self._key(rng), None, "GET", "items"
        elif roll < 0.8:
            operation, key, value, method, path = "update", self._key(rng), name, "PATCH", "items"
        elif roll < 0.9:
            operation, key, value, method, path = "create", None, name, "POST", "items"
        else:
            operation, key, value = "delete", rng.choice(self.deletable), None
            method, path = "DELETE", "items"
        sent = time.monotonic()
        if replica is None:
            self.requests.append(
                Request(NO_REPLICA, operation, key, sent, sent, NO_REPLICA_STATUS, value)
            )
            return
        url = f"{replica.base}/{path}" if key is None else f"{replica.base}/{path}/{key}"
        body = None if value is None else {"name": value}
        try:
            response = await self.client.request(
                method, url, json=body, timeout=REQUEST_TIMEOUT_SECONDS
            )
            status = response.status_code
        except httpx.HTTPError:
            status, response = NO_ANSWER, None
        answered = time.monotonic()
        if response is not None and status in {200, 201}:
            answer = response.json()
            if operation == "create":
                key = int(answer["id"])
                self.keys.append(key)
                self.deletable.append(key)
                self.recent = [*self.recent[-(RECENT_KEYS - 1) :], key]
            if operation == "read":
                value = str(answer["name"])
        self.requests.append(
            Request(replica.release, operation, key, sent, answered, status, value)
        )
