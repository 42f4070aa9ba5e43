"""Refresh-due markers: a store that dies after committing still ends searchable, unretried.

A store refreshes the aggregates of every series it committed into before it answers
(``shared.services.store``), but a process killed before that leaves committed instances
retrievable and missing from search, or counted short. So before its first commit into a series, a
request writes that series' marker (one ``refresh`` document per series, an upsert) with a lease;
the sweep refreshes the series and study of every marker whose lease ran out, then deletes it.

Why no refresh is lost:

- A request commits into a series only while the marker lease it last wrote has more than
  ``RENEW_WITHIN_SECONDS`` left, and writes the marker again otherwise. Every commit relying on a
  marker therefore lands before that marker's lease runs out, and the sweep's refresh, which
  starts after, counts it. The margin covers the commit's own latency and clock skew between
  hosts.
- Requests never clear markers, not even their own: concurrent stores of one series share its
  marker, each extending the lease, so one finishing cannot take away what another still relies
  on. Only the sweep deletes a marker, after its refresh, and only if nobody wrote the marker
  while it refreshed (etag); a marker written again meanwhile stays for the next sweep.

What it costs: one index write per series per request on the store path (one more for every
``LEASE_SECONDS - RENEW_WITHIN_SECONDS`` a request keeps committing into one series), sent just
before the series' first commit. The sweep then refreshes each marked series and its study once
and deletes the marker: once per series written since the previous sweep, however many requests
wrote to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from shared.uid_index.index import LEASE_SECONDS, Index, RefreshMarker, refresh_aggregates
from shared.uid_index.keys import SeriesRef

RENEW_WITHIN_SECONDS = 2 * LEASE_SECONDS / 3


class SeriesToRefresh:
    """The series one store request must refresh before it answers, and the markers that get
    them refreshed by the sweep should the request die first."""

    def __init__(self, index: Index) -> None:
        self._index = index
        self._series: dict[str, SeriesRef] = {}
        self._leases: dict[str, float] = {}
        self._marking: dict[str, asyncio.Lock] = {}

    async def before_commit(self, series: SeriesRef) -> None:
        """Call before each commit into ``series``: marks it when the last mark runs out soon.

        The series is recorded once the mark is written, before the commit is sent, not after
        the commit is acknowledged: a commit that times out may still have landed. Parts of one
        request stored at once wait for one mark of their series rather than each writing it.
        """
        async with self._marking.setdefault(series.key, asyncio.Lock()):
            if self._leases.get(series.key, 0.0) - time.time() <= RENEW_WITHIN_SECONDS:
                lease_until = time.time() + LEASE_SECONDS
                await self._index.mark_refresh_due(series, lease_until)
                self._leases[series.key] = lease_until
        self._series[series.key] = series

    def add(self, series: SeriesRef) -> None:
        """A series to refresh that this request did not commit into (an instance found already
        stored: the request that stored it may have died before refreshing, and marked it)."""
        self._series[series.key] = series

    async def refresh(self) -> None:
        await refresh_aggregates(self._index, self._series.values())


async def refresh_marked(index: Index, markers: Sequence[RefreshMarker]) -> None:
    """Refresh the series and studies of overdue markers, then delete each unless rewritten.

    A marker written again during the refresh has a new lease, so it stays, and the next
    ``overdue_markers`` does not return it before that runs out too.
    """
    await refresh_aggregates(index, (m.series for m in markers))
    await asyncio.gather(*(index.clear_marker(m) for m in markers))
