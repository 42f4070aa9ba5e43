"""The change feed's query parameters, read as the Azure DICOM service reads them.

v1 pages by sequence: ``offset`` is the last sequence seen, ``limit`` (default 10, at most 100)
how far past it to look. v2 pages within a time window: ``startTime`` (inclusive) and
``endTime`` (exclusive), each with a time zone, ``offset`` entries of the window skipped and at
most ``limit`` (default 100, at most 200) returned. Both take ``includeMetadata`` (default true).

Names are matched without regard to case and the first of a repeated name counts, as ASP.NET Core
binds them; names the API does not know are ignored, as there. Errors name the parameter and say
what is wrong in Azure's words, never echoing the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.errors import BadRequest

LONG_MAX = 2**63 - 1
EARLIEST = datetime.min.replace(tzinfo=UTC).timestamp()
LATEST = datetime.max.replace(tzinfo=UTC).timestamp()
"""v2's window when ``startTime`` or ``endTime`` is left out: all of time, as in Azure."""


@dataclass(frozen=True)
class Limits:
    default: int
    most: int


V1_LIMITS = Limits(10, 100)
V2_LIMITS = Limits(100, 200)


@dataclass(frozen=True)
class FeedPage:
    """One page of the feed a request asks for."""

    offset: int
    limit: int
    include_metadata: bool
    window: tuple[float, float] | None = None
    """v2's ``[startTime, endTime)`` in seconds since the epoch; None for v1 (by sequence)."""


def _first(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in items:
        found.setdefault(name.lower(), value)
    return found


_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
"""What ASP.NET's binding takes as an integer: ASCII digits, no ``_`` separators (``int`` takes
both)."""


def _invalid(name: str, problem: str) -> BadRequest:
    return BadRequest(f"The query parameter '{name}' is invalid. {problem}")


def _integer(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name.lower())
    if text is None:
        return default
    if not _INTEGER.fullmatch(text.strip()):
        raise _invalid(name, f"The value is not valid for {name}.")
    value = int(text.strip())
    if not low <= value <= high:
        raise _invalid(name, f"The field {name} must be between {low} and {high}.")
    return value


def _boolean(params: dict[str, str], name: str) -> bool:
    text = params.get(name.lower())
    if text is None:
        return True
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise _invalid(name, f"The value is not valid for {name}.")
    return value == "true"


def _time(params: dict[str, str], name: str) -> datetime | None:
    text = params.get(name.lower())
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _invalid(name, f"The value is not valid for {name}.") from None
    if moment.tzinfo is None:
        raise _invalid(name, "Date and time value must specify a time zone.")
    return moment


def include_metadata(items: Iterable[tuple[str, str]]) -> bool:
    """``includeMetadata`` alone, as ``/changefeed/latest`` takes it."""
    return _boolean(_first(items), "includeMetadata")


def parse_feed_page(version: int, items: Iterable[tuple[str, str]]) -> FeedPage:
    """The page a ``/changefeed`` request of API ``version`` asks for, or 400."""
    params = _first(items)
    limits = V1_LIMITS if version == 1 else V2_LIMITS
    offset = _integer(params, "offset", 0, 0, LONG_MAX)
    limit = _integer(params, "limit", limits.default, 1, limits.most)
    metadata = _boolean(params, "includeMetadata")
    if version == 1:
        return FeedPage(offset, limit, metadata)
    start, end = _time(params, "startTime"), _time(params, "endTime")
    if start is not None and end is not None and end <= start:
        raise BadRequest(
            f"The start time '{start.isoformat()}' must occur strictly before the end time "
            f"'{end.isoformat()}'."
        )
    window = (
        EARLIEST if start is None else start.timestamp(),
        LATEST if end is None else end.timestamp(),
    )
    return FeedPage(offset, limit, metadata, window)
