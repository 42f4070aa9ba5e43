"""Deleting instances so that no reader sees half a deletion and no file is lost track of.

A delete goes through these steps:

1. **intent**: a delete intent beside the study's entries records the scope (study, series
   or instance) and the moment of the request, as a time-ordered version id. It is what makes a
   delete that dies midway finish: the sweep (``sweeper``) takes over intents whose lease ran out
   and carries them out, so a crash never leaves a study half deleted for good.
2. **hide**: every instance entry in scope becomes ``deleting`` (conditional on its etag), so
   every read stops seeing it; its lease makes a concurrent store of that instance wait (45071).
   All instances are hidden, and the series and study aggregates recomputed, before anything
   else happens, so from then on the deleted resource is gone for every reader.
3. **purge**: the blobs of the version each document names are deleted, then the document
   (conditional on the etag of step 2). This is the slow part (two blob deletes per instance), so
   a DELETE does it for at most its inline time and leaves the rest to the sweep.
4. **done**: the intent is deleted once nothing in scope is left.

Aggregates are recomputed with the same converging refresh a store uses, so concurrent stores and
deletes in one study end with exact counts. An intent carried out later hides only instances
stored before its request, so a store that landed after a DELETE is never undone by it. Only the
named version's blobs are deleted, never the instance's whole folder, so files a concurrent store
is writing under a new version are never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from shared.clients import Clients
from shared.services.retrieve_scope import Scope, index_scope
from shared.uid_index.index import (
    DeleteIntent,
    DeleteScope,
    Index,
    InstanceEntry,
    refresh_aggregates,
)
from shared.uid_index.keys import SeriesRef, StudyRef

_CONCURRENCY = 32
# Instances purged per round: their blobs go first, then their entries.
PURGE_CHUNK = 256
# Time one chunk of a purge may take beyond its deadline.
PURGE_OVERRUN_SECONDS = 10.0
T = TypeVar("T")


def scope_of(scope: Scope) -> DeleteScope:
    """What a DELETE of a study, series or instance URL takes."""
    ref = index_scope(scope)
    if isinstance(ref, StudyRef):
        return DeleteScope.of_study(ref)
    if isinstance(ref, SeriesRef):
        return DeleteScope.of_series(ref)
    return DeleteScope.of_instance(ref)


@dataclass(frozen=True)
class DeleteOutcome:
    hidden: int
    """Instances this delete hid (0: there was nothing to delete)."""
    remaining: int
    """Of those, how many are still to be purged in the background."""


async def bounded(calls: Sequence[Awaitable[T]]) -> list[T | BaseException]:
    semaphore = asyncio.Semaphore(_CONCURRENCY)

    async def one(call: Awaitable[T]) -> T:
        async with semaphore:
            return await call

    return await asyncio.gather(*(one(c) for c in calls), return_exceptions=True)


def first_failure(results: Iterable[object]) -> BaseException | None:
    return next((r for r in results if isinstance(r, BaseException)), None)


async def hide_all(
    index: Index, entries: Sequence[InstanceEntry], lease_until: float
) -> list[InstanceEntry]:
    """Hide every entry, then refresh the aggregates of their series and study.

    The aggregates count only visible instances, so they are refreshed even when a hide failed:
    the instances that were hidden leave search at once, and the retry finishes the rest.
    """
    results = await bounded([index.hide(e, lease_until) for e in entries])
    await refresh_aggregates(index, (e.ref.series for e in entries))
    failure = first_failure(results)
    if failure is not None:
        raise failure
    return [r for r in results if isinstance(r, InstanceEntry)]


async def purge(
    clients: Clients, hidden: Sequence[InstanceEntry], *, deadline: float | None = None
) -> int:
    """Delete the files, then the entries, of hidden instances, a chunk at a time.

    Stops between chunks once ``time.monotonic()`` passes ``deadline``; returns how many were
    purged. An entry changed since it was hidden (a store took the instance over) is kept:
    the concurrent writer wins.
    """
    purged = 0
    for start in range(0, len(hidden), PURGE_CHUNK):
        if deadline is not None and time.monotonic() >= deadline:
            break
        chunk = hidden[start : start + PURGE_CHUNK]
        await clients.blobs.delete(
            name
            for entry in chunk
            for version in entry.versions
            for name in entry.ref.version_blobs(version)
        )
        failure = first_failure(await bounded([clients.index.forget(e) for e in chunk]))
        if failure is not None:
            raise failure
        purged += len(chunk)
    return purged


async def carry_out(
    clients: Clients,
    intent: DeleteIntent,
    entries: Sequence[InstanceEntry] | None = None,
    *,
    lease_until: float,
    deadline: float | None,
) -> DeleteOutcome:
    """Hide and purge what ``intent`` covers (``entries`` when already read), then drop it.

    The intent stays when time runs out first, so whoever takes it over next finishes the rest.
    """
    if entries is None:
        entries = await clients.index.in_scope(intent.scope, before=intent.before)
    hidden = await hide_all(clients.index, entries, lease_until)
    purged = await purge(clients, hidden, deadline=deadline)
    if purged == len(hidden):
        await clients.index.drop_intent(intent)
    return DeleteOutcome(len(hidden), len(hidden) - purged)


async def delete(clients: Clients, scope: DeleteScope, *, inline_seconds: float) -> DeleteOutcome:
    """Record the intent, hide every instance of ``scope``, then purge for ``inline_seconds``.

    The lease covers the inline purge (and the one chunk that may run past its end), so the sweep
    does not start on what this request is still doing, and ends soon after: whatever is left
    then is the sweep's. A sweep that starts early only repeats idempotent deletes.
    """
    entries = await clients.index.in_scope(scope)
    if not entries:
        return DeleteOutcome(0, 0)
    started = time.monotonic()
    lease_until = time.time() + inline_seconds + PURGE_OVERRUN_SECONDS
    intent = await clients.index.record_intent(scope, lease_until)
    return await carry_out(
        clients, intent, entries, lease_until=lease_until, deadline=started + inline_seconds
    )


@dataclass(frozen=True)
class DeleteProgress:
    running: bool
    """The intent is still there, or hidden instances are left to purge."""
    remaining: int
    """Instances hidden and not yet purged."""


async def progress(clients: Clients, operation_id: str) -> DeleteProgress | None:
    """How far the delete an operation id names has got; None for an id not handed out here."""
    scope = DeleteScope.from_operation_id(operation_id)
    if scope is None:
        return None
    left = await clients.index.deleting_count(scope)
    return DeleteProgress(bool(left or await clients.index.has_intent(scope)), left)
