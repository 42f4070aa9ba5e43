"""Refresh-due markers: a store that dies after committing still ends searchable, unretried.

A store refreshes the aggregates of every series it committed into before it answers
(``shared.services.store``), but a process killed before that leaves committed instances
retrievable and missing from search, or counted short. So a request's first commit into a series
carries that series' marker (one ``refresh`` document per series, upserted with a lease in the
commit's own transaction, ``Index.commit``); the sweep refreshes the series and study of every
marker whose lease ran out, then deletes it.

Why no refresh is lost:

- A commit that carries the marker lands with it or not at all, so the sweep, which reads the
  marker before it refreshes, counts that commit whenever the marker is there to be read, however
  long the commit took.
- A request sends a commit without the marker only while the lease of the last marker it saw
  land has more than ``RENEW_WITHIN_SECONDS`` left, and carries it again otherwise. Every commit
  relying on a marker therefore lands before that marker's lease runs out, and the sweep's
  refresh, which starts after, counts it. The margin covers the commit's own latency and clock
  skew between hosts, and a marker with an earlier lease landing after it: another request's,
  or one carried by a concurrent commit of the same request, sent earlier.
- Requests never clear markers, not even their own: concurrent stores of one series share its
  marker, each extending the lease, so one finishing cannot take away what another still relies
  on. Only the sweep deletes a marker, after its refresh, and only if nobody wrote the marker
  while it refreshed (etag); a marker written again meanwhile stays for the next sweep.

What it costs: no index call of its own. A commit that carries the marker writes one more
document in its batch: a request's first commit into each series, one every
``LEASE_SECONDS - RENEW_WITHIN_SECONDS`` it keeps committing into the series, and any sent into
the series while the one carrying the marker is still unanswered. The sweep then refreshes each
marked series and its study once and deletes the marker: once per series written since the
previous sweep, however many requests wrote to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from shared.uid_index.index import (
    LEASE_SECONDS,
    AggregatesRead,
    Index,
    RefreshMarker,
    refresh_aggregates,
)
from shared.uid_index.keys import SeriesRef

RENEW_WITHIN_SECONDS = 2 * LEASE_SECONDS / 3


class SeriesToRefresh:
    """The series one store request must refresh before it answers, and the leases of the markers
    that get them refreshed by the sweep should the request die first.

    Each study's aggregates are read as soon as the request first names a series of it, while
    the commit that follows is in flight: its refresh then starts from that read
    (``Index.refresh``), a round trip less after the last commit.
    """

    def __init__(self, index: Index) -> None:
        self._index = index
        self._series: dict[str, SeriesRef] = {}
        self._leases: dict[str, float] = {}
        self._reads: dict[str, asyncio.Future[AggregatesRead]] = {}

    def _named(self, series: SeriesRef) -> None:
        self._series[series.key] = series
        study = series.study
        if study.key not in self._reads:
            self._reads[study.key] = asyncio.ensure_future(self._index.read_aggregates(study))

    def marker_lease(self, series: SeriesRef) -> float | None:
        """Call just before each commit into ``series`` is sent: the lease of the marker the commit
        must carry (``Index.commit``), or None while the last one seen landing has more than
        ``RENEW_WITHIN_SECONDS`` left.

        The series is recorded now, before the commit is sent, not once it is acknowledged: a
        commit that times out may still have landed. Parts of one request committing into a
        series at once may each carry the marker, in their own batch; once one has landed
        (``marked``), the next ones do not, until its lease runs out soon.
        """
        self._named(series)
        now = time.time()
        if self._leases.get(series.key, 0.0) - now > RENEW_WITHIN_SECONDS:
            return None
        return now + LEASE_SECONDS

    def marked(self, series: SeriesRef, lease_until: float) -> None:
        """Call once a commit carrying the marker leased until ``lease_until`` has succeeded."""
        self._leases[series.key] = max(lease_until, self._leases.get(series.key, 0.0))

    def add(self, series: SeriesRef) -> None:
        """A series to refresh that this request did not commit into (an instance found already
        stored: the request that stored it may have died before refreshing, and marked it)."""
        self._named(series)

    async def refresh(self) -> None:
        """Refresh every series named, each study from its read ahead unless that failed (its
        refresh then reads again, and reports what keeps failing)."""
        reads = await asyncio.gather(*self._reads.values(), return_exceptions=True)
        ahead = {r.study.key: r for r in reads if isinstance(r, AggregatesRead)}
        await refresh_aggregates(self._index, self._series.values(), read_ahead=ahead)


async def refresh_marked(index: Index, markers: Sequence[RefreshMarker]) -> None:
    """Refresh the series and studies of overdue markers, then delete each unless rewritten.

    A marker written again during the refresh has a new lease, so it stays, and the next
    ``overdue_markers`` does not return it before that runs out too.
    """
    await refresh_aggregates(index, (m.series for m in markers))
    await asyncio.gather(*(index.clear_marker(m) for m in markers))
