"""HTTP byte ranges (RFC 9110 §14): one ``bytes=`` range of a value whose length is known.

Bulk data and single frames honour a ``Range`` header: a viewer reading an HTJ2K RPCL frame
fetches its first bytes, which hold the lowest resolution levels, and the rest later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shared.errors import DicomwebError

# Positions of at most 18 digits (any value fits); a longer one makes the header ignored.
_RANGE = re.compile(r"bytes=([0-9]{0,18})-([0-9]{0,18})")


class RangeNotSatisfiable(DicomwebError):
    status = 416


def byte_range(header: str | None, length: int) -> tuple[int, int] | None:
    """The single ``bytes=`` range of a Range header as (start, end exclusive); None for all.

    Several ranges, or a header in another unit, are ignored (RFC 9110 §14.2 allows it) and
    the whole value is sent.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0:
            raise _unsatisfiable(length)
        return max(length - suffix, 0), length
    start = int(match[1])
    end = min(int(match[2]) + 1, length) if match[2] else length
    if start >= length or end <= start:
        raise _unsatisfiable(length)
    return start, end


def range_headers(wanted: tuple[int, int] | None, length: int) -> Mapping[str, str]:
    """The headers of a value sent whole (``wanted`` None) or as the range ``wanted``."""
    start, end = wanted or (0, length)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start)}
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{length}"
    return headers


def _unsatisfiable(length: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        "the requested range is outside the value", headers={"Content-Range": f"bytes */{length}"}
    )
