"""One place that turns an outage of Blob Storage or the index into a 503 for the client.

The SDKs raise many shapes of error for "the service did not answer"; the blob store wraps its
calls in ``unavailable_as_503()``, the index adapter turns them into ``IndexUnavailable``
(``shared.uid_index.cosmos.guard``), and ``as_http_error`` gives both the same answer. Callers
handle only the outcomes they expect (not found, conflict, precondition failed). Throttling (429)
is treated as unavailability with the same Retry-After.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.errors import DicomwebError, StorageUnavailable
from shared.uid_index.index import IndexUnavailable

_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, ServiceRequestError | ServiceResponseError | asyncio.TimeoutError):
        return True
    if isinstance(exc, HttpResponseError):
        return exc.status_code in _RETRYABLE_STATUS
    return isinstance(exc, ConnectionError | OSError)


def as_http_error(exc: BaseException) -> DicomwebError | None:
    """The answer to a storage failure that ended a request: 503 for an index outage."""
    if isinstance(exc, DicomwebError):
        return exc
    if isinstance(exc, IndexUnavailable):
        return StorageUnavailable(str(exc))
    return None


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
