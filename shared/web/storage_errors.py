"""The one place that turns a storage error into an HTTP answer.

Storage speaks its own errors (``shared.storage.errors``); a request that ends on one gets the
same answer whichever store raised it: 503 with ``Retry-After`` for an outage, 404 for a file
gone since the index was read. Callers handle only the outcomes they expect.
"""

from __future__ import annotations

from shared.errors import DicomwebError, NotFound, ServiceUnavailable
from shared.storage.errors import StorageUnavailable, StoredFileMissing


def as_http_error(exc: BaseException) -> DicomwebError | None:
    """The answer to an error that ended a request, or None for one that is a server fault."""
    if isinstance(exc, DicomwebError):
        return exc
    if isinstance(exc, StorageUnavailable):
        return ServiceUnavailable(str(exc)) if str(exc) else ServiceUnavailable()
    if isinstance(exc, StoredFileMissing):
        return NotFound("a stored file is no longer available")
    return None
