"""The background sweep: finishing what a DELETE left for later, or a dead request left behind.

First it takes over every delete intent whose lease has run out (a large delete's remainder, or
a delete that died at any step) and carries it out, so the whole scope ends deleted. Then it takes
every instance entry whose lease has run out while it was ``deleting`` (a large
delete's remainder, or a delete that died) or ``pending`` (a store that died between claim and
commit), hides it again under a fresh lease of its own, and purges it: files of the named version
first, then the entry. Taking each entry over with a conditional write first means that two
sweeps, or a sweep and a retried DELETE, never both purge one instance, and that a store which
takes an instance over meanwhile wins. Aggregates above what is swept are refreshed once it is
hidden, in case the request that hid it died before it got that far. Last, it refreshes the
series and study of every refresh-due marker whose lease ran out (``refresh_due``), so that what
a store committed before it died becomes searchable with exact counts. Then it numbers the change
feed's new entries (``shared.uid_index.changes``), so that they are numbered close to when they
committed even when nobody reads the feed. With the time left, it carries out the reindex
operations of extended query tags whose lease ran out (``reindex``): new ones, and those of a
host that died; and it takes over every export (``export``) and bulk update (``bulk_update``)
whose lease ran out: a large one's remainder, or one whose host died.

Orphan files that no document names at all are found only by ``verify``, which lists the whole
container: too costly for a schedule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from shared.clients import Clients
from shared.config import DEFAULT_PARTITION
from shared.services import reindex
from shared.services.bulk_update import resume_updates
from shared.services.delete import PURGE_CHUNK, PURGE_OVERRUN_SECONDS, carry_out, hide_all, purge
from shared.services.export import resume_exports
from shared.uid_index.index import LEASE_SECONDS, number_all
from shared.uid_index.lifecycle import Lifecycle
from shared.uid_index.refresh_due import refresh_marked
from shared.uid_index.tag_index import OperationStatus

COMPLETED = OperationStatus.COMPLETED


@dataclass
class SweepSummary:
    intents_carried_out: int = 0
    deletes_finished: int = 0
    claims_released: int = 0
    series_refreshed: int = 0
    changes_numbered: int = 0
    reindexes_completed: int = 0
    exports_finished: int = 0
    updates_finished: int = 0


async def _carry_out_intents(clients: Clients, deadline: float, summary: SweepSummary) -> None:
    for intent in await clients.index.expired_intents(time.time()):
        if time.monotonic() >= deadline:
            return
        lease_until = time.time() + (deadline - time.monotonic()) + PURGE_OVERRUN_SECONDS
        taken = await clients.index.take_over_intent(intent, lease_until)
        if taken is not None:
            outcome = await carry_out(clients, taken, lease_until=lease_until, deadline=deadline)
            summary.intents_carried_out += not outcome.remaining


async def _refresh_overdue(clients: Clients, deadline: float, summary: SweepSummary) -> None:
    while time.monotonic() < deadline:
        markers = await clients.index.overdue_markers()
        if not markers:
            return
        await refresh_marked(clients.index, markers)
        summary.series_refreshed += len(markers)


async def _reindex(clients: Clients, deadline: float, summary: SweepSummary) -> None:
    for operation in await clients.index.due_operations(time.time()):
        if time.monotonic() >= deadline:
            return
        taken = await reindex.take_over(clients, operation)
        if taken is not None:
            done = await reindex.run(clients, taken, deadline=deadline)
            summary.reindexes_completed += done is not None and done.status is COMPLETED


async def sweep(clients: Clients, *, seconds: float) -> SweepSummary:
    """Purge expired ``deleting`` and ``pending`` instances, refresh overdue series, number new
    change feed entries, then carry out due reindex operations, exports and bulk updates, for at
    most about
    ``seconds``."""
    summary = SweepSummary()
    deadline = time.monotonic() + seconds
    await _carry_out_intents(clients, deadline, summary)
    while time.monotonic() < deadline:
        expired = await clients.index.expired_entries(time.time(), PURGE_CHUNK)
        if not expired:
            break
        taken = await hide_all(clients.index, expired, time.time() + LEASE_SECONDS)
        await purge(clients, taken)
        was_pending = {e.ref.key for e in expired if e.status is Lifecycle.PENDING}
        released = sum(t.ref.key in was_pending for t in taken)
        summary.claims_released += released
        summary.deletes_finished += len(taken) - released
    await _refresh_overdue(clients, deadline, summary)
    named = {p.name for p in await clients.index.partitions()}
    for partition in sorted({DEFAULT_PARTITION, *named}):
        summary.changes_numbered += await number_all(clients.index, partition, deadline)
    await _reindex(clients, deadline, summary)
    left = deadline - time.monotonic()
    if left > 0:
        summary.exports_finished = await resume_exports(clients, seconds=left)
    left = deadline - time.monotonic()
    if left > 0:
        summary.updates_finished = await resume_updates(clients, seconds=left)
    return summary
