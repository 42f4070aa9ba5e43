"""When to send a failed request again: exponential back-off with jitter, bounded attempts.

The jitter spreads the retries of concurrent requests that failed together (a server that
answered 503 to all of them), so that they do not come back at the same moment. A server's
``Retry-After`` is a floor: no retry comes earlier than it asks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Too many requests, and the server-side failures that a later attempt may not meet.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` requests at most; waits grow from ``base`` seconds, doubling, up to ``cap``.

    A ``Retry-After`` longer than ``max_retry_after`` is shortened to it, so that one answer
    cannot stall an import for hours; the attempt bound still ends a server that keeps refusing.
    """

    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry).

        Without ``Retry-After``: a uniform pick in the upper half of the back-off, so waits still
        grow with each retry. With it: that many seconds plus up to half the back-off.
        """
        if retry < 1:
            raise ValueError("retries are numbered from 1")
        backoff = min(self.cap, self.base * 2 ** (retry - 1))
        if retry_after is None:
            return rng.uniform(backoff / 2, backoff)
        return min(retry_after, self.max_retry_after) + rng.uniform(0, backoff / 2)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.

    None when absent or unreadable; a date in the past is 0.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
