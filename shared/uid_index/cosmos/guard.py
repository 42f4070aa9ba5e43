"""Turning what the Cosmos SDK raises for "the index did not answer" into ``IndexUnavailable``.

Every call the adapter makes runs inside ``unavailable()``; the adapter handles the outcomes it
expects (not found on a point read, a conflict, a failed precondition) itself, so whatever else
reaches here is an outage or a bug. The HTTP layer answers ``IndexUnavailable`` with 503 and
Retry-After (``shared.web.storage_errors``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.storage.errors import is_unavailable
from shared.uid_index.index import IndexUnavailable

QUERY_SECONDS = 20.0
"""The longest the index queries of one request may run. Searches answer in milliseconds to a
few seconds (docs/performance.md); this is far above that and far below the 230 s after which
Azure's front end drops the request."""


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the index cannot answer now.

    A not-found that gets this far comes from a query or write, not a point read (those handle
    it), so the database or container itself is missing: the local emulator restarted empty, or
    the index is being provisioned. That is unavailability, not a missing document.
    """
    return isinstance(exc, CosmosResourceNotFoundError) or is_unavailable(exc)


@contextmanager
def unavailable() -> Iterator[None]:
    try:
        yield
    except IndexUnavailable:
        raise
    except Exception as exc:
        if is_outage(exc):
            raise IndexUnavailable("the index is unavailable, retry later") from exc
        raise


@asynccontextmanager
async def query_deadline(seconds: float = QUERY_SECONDS) -> AsyncIterator[None]:
    """Cancel the index work inside after ``seconds``: the request answers 503 at once.

    Cancelling closes the request's connection to Cosmos DB, so the request ends and the process
    serves others; whether the database stops working on the query is up to the database.
    """
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise IndexUnavailable(
            f"the index query took longer than {seconds:g} s: retry later, or narrow it"
        ) from exc
