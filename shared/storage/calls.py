"""Storage calls per request: how many HTTP requests one operation sent to each store.

The cost of an operation on top of the storage underneath is mostly its round trips, so the
local host counts them per request and writes the counts in its access log, where the benchmark
reads them (``bench.calls``). Both SDK clients are given ``hook(kind)`` as their request hook,
which runs once per HTTP request sent, retries included. The tally lives in a context variable
that the host sets for each request: tasks and threads a request starts inherit it, and outside
a tally (in Azure, where no one asks) a hook costs one context-variable read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

BLOB = "blob"
INDEX = "index"

_tally: ContextVar[Counter[str] | None] = ContextVar("storage_calls", default=None)


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count the storage calls made inside the block (and by what it starts) by kind."""
    tally: Counter[str] = Counter()
    token = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(token)


def hook(kind: str) -> Callable[[Any], None]:
    """An SDK ``raw_request_hook`` that counts each request under ``kind``."""

    def count(_request: Any) -> None:
        tally = _tally.get()
        if tally is not None:
            tally[kind] += 1

    return count
