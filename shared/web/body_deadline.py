"""Time bounds on reading a request body, so a client that trickles it in, or sends less than its
Content-Length promised and then waits, cannot hold a worker forever.

Two bounds: the idle time between two chunks, and the time for the whole body. Either one passing
ends the request with 408 Request Timeout (RFC 9110 section 15.5.9), which can still be answered
since no response has started while the body is being read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass

from shared.errors import RequestTimeout


@dataclass(frozen=True)
class BodyDeadline:
    """How long a body may pause between chunks, and how long it may take in all, in seconds."""

    idle_seconds: float
    total_seconds: float

    def wait_for_next(self, started: float, now: float) -> float:
        """The longest wait for the next chunk: the idle bound, cut short by the overall one."""
        return max(0.0, min(self.idle_seconds, started + self.total_seconds - now))


async def within_deadline(
    chunks: AsyncIterable[bytes],
    deadline: BodyDeadline,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[bytes]:
    """`chunks` as they arrive; RequestTimeout once a bound of `deadline` passes."""
    iterator = aiter(chunks)
    started = clock()
    while True:
        try:
            async with asyncio.timeout(deadline.wait_for_next(started, clock())):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RequestTimeout(
                "the request body did not arrive in time "
                f"(at most {deadline.idle_seconds:g} s between chunks, "
                f"{deadline.total_seconds:g} s in all)"
            ) from None
        yield chunk
