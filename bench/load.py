"""An asyncio load generator: a fixed list of requests sent by a few concurrent clients, each
request timed on its own, so that percentiles come from real samples and throughput from the
wall time of the whole run."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

# One request: sends itself and returns the number of payload bytes it moved (sent or read).
Request = Callable[[], Awaitable[int]]


@dataclass(frozen=True)
class Run:
    """What one run of requests measured."""

    latencies: list[float]
    seconds: float
    payload_bytes: int

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def mb_per_second(self) -> float:
        return self.payload_bytes / 1e6 / self.seconds

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds."""
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1]


async def run(requests: Sequence[Request], clients: int) -> Run:
    """Send every request, ``clients`` at a time, in order; fails on the first failed request."""
    if not requests:
        raise ValueError("a run needs at least one request")
    queue = iter(requests)
    latencies: list[float] = []
    moved = 0

    async def client() -> None:
        nonlocal moved
        for request in queue:
            started = time.perf_counter()
            moved += await request()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return Run(latencies, time.perf_counter() - started, moved)
