"""What storage raises: its own errors, never HTTP statuses.

The SDKs raise many shapes of error for "the service did not answer"; the blob store wraps its
calls in ``unavailable_as_storage_error()``, the index adapter turns them into
``IndexUnavailable`` (``shared.uid_index.cosmos.guard``), a kind of ``StorageUnavailable``.
``shared.web.storage_errors`` gives both the same answer. Throttling (429) counts as
unavailability: the client is told to come back later either way.
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

_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


class StorageUnavailable(Exception):
    """Blob Storage or the index did not answer in time, or answered short: retry later."""


class StoredFileMissing(Exception):
    """A file the index points at is gone: replaced or deleted since the index was read."""


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, ServiceRequestError | ServiceResponseError | asyncio.TimeoutError):
        return True
    if isinstance(exc, HttpResponseError):
        return exc.status_code in _RETRYABLE_STATUS
    return isinstance(exc, ConnectionError | OSError)


@contextmanager
def unavailable_as_storage_error() -> Iterator[None]:
    try:
        yield
    except StorageUnavailable:
        raise
    except Exception as exc:
        if is_unavailable(exc):
            raise StorageUnavailable() from exc
        raise
