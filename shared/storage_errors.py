"""One place that turns an outage of Blob Storage or Cosmos DB into a 503 for the client.

The SDKs raise many shapes of error for "the service did not answer"; callers wrap their storage
calls in ``unavailable_as_503()`` and handle only the outcomes they expect (not found, conflict,
precondition failed). Throttling (429) is treated as unavailability with the same Retry-After.
An index query that runs past ``QUERY_SECONDS`` is cancelled and answered the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from azure.core.exceptions import (
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.errors import StorageUnavailable

_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}

QUERY_SECONDS = 20.0
"""The longest the index queries of one request may run. Searches answer in milliseconds to a
few seconds (docs/performance.md); this is far above that and far below the 230 s after which
Azure's front end drops the request."""


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, ServiceRequestError | ServiceResponseError | asyncio.TimeoutError):
        return True
    if isinstance(exc, CosmosResourceNotFoundError):
        # Callers handle a missing document where they expect one; a not-found that gets this
        # far comes from a query or write, so the database or container itself is missing (the
        # local emulator restarted empty, or the index is being provisioned): unavailable.
        return True
    if isinstance(exc, HttpResponseError):
        return exc.status_code in _RETRYABLE_STATUS
    return isinstance(exc, ConnectionError | OSError)


@contextmanager
def unavailable_as_503() -> Iterator[None]:
    try:
        yield
    except StorageUnavailable:
        raise
    except Exception as exc:
        if is_unavailable(exc):
            raise StorageUnavailable() from exc
        raise


@asynccontextmanager
async def query_deadline(seconds: float = QUERY_SECONDS) -> AsyncIterator[None]:
    """Cancel the index work inside after ``seconds`` and answer 503 with Retry-After.

    Cancelling closes the request's connection to Cosmos DB, so the request ends and the process
    serves others; whether the database stops working on the query is up to the database.
    """
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise StorageUnavailable(
            f"the index query took longer than {seconds:g} s: retry later, or narrow it"
        ) from exc
