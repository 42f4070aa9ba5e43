"""Deleting instances so that no reader sees half a deletion and no file is lost track of.

A delete goes through these steps:

1. **intent**: a ``delete`` document in the study's partition records the scope (study, series
   or instance) and the moment of the request, as a time-ordered version id. It is what makes a
   delete that dies midway finish: the sweep (``sweeper``) takes over intents whose lease ran out
   and carries them out, so a crash never leaves a study half deleted for good.
2. **hide**: every instance document in scope becomes ``deleting`` (conditional on its etag), so
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
import re
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.cosmos.exceptions import CosmosAccessConditionFailedError, CosmosResourceNotFoundError

from shared.clients import Clients
from shared.storage_errors import unavailable_as_503
from shared.uid_index.documents import instance_ref
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef, doc_id, new_version
from shared.uid_index.writer import (
    delete_if_unchanged,
    read_document,
    refresh_series_and_studies,
)

_CONCURRENCY = 32
# Instances purged per round: their blobs go first, then their documents.
PURGE_CHUNK = 256
# Time one chunk of a purge may take beyond its deadline.
PURGE_OVERRUN_SECONDS = 10.0
T = TypeVar("T")
JsonDict = dict[str, Any]

_KEY = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class DeleteScope:
    """The instances one DELETE is about, named by digests only.

    Digests are all a query needs, and they carry no patient data, so a scope can be handed to
    the client as an operation id and read back from it.
    """

    study_key: str
    series_key: str | None = None
    instance_key: str | None = None

    @classmethod
    def of_study(cls, study: StudyRef) -> DeleteScope:
        return cls(study.key)

    @classmethod
    def of_series(cls, series: SeriesRef) -> DeleteScope:
        return cls(series.study.key, series.key)

    @classmethod
    def of_instance(cls, ref: InstanceRef) -> DeleteScope:
        return cls(ref.study.key, ref.series.key, ref.key)

    @property
    def operation_id(self) -> str:
        keys = (self.study_key, self.series_key, self.instance_key)
        return "-".join(k for k in keys if k is not None)

    @classmethod
    def from_operation_id(cls, value: str) -> DeleteScope | None:
        """The scope an operation id names; None for anything this service did not hand out."""
        keys = value.split("-")
        if not 1 <= len(keys) <= 3 or not all(_KEY.match(k) for k in keys):
            return None
        return cls(*keys)

    @classmethod
    def of_intent(cls, intent: JsonDict) -> DeleteScope:
        return cls(intent["pk"], intent.get("seriesKey"), intent.get("instanceKey"))

    @property
    def intent_id(self) -> str:
        return f"delete-{self.operation_id}"

    def query(self, condition: str, select: str = "*") -> tuple[str, list[JsonDict]]:
        """A single-partition query for this scope's instance documents meeting ``condition``."""
        query = f"SELECT {select} FROM c WHERE c.pk = @pk AND c.type = 'instance' AND ({condition})"
        parameters: list[JsonDict] = [{"name": "@pk", "value": self.study_key}]
        if self.series_key is not None:
            query += " AND c.seriesKey = @series"
            parameters.append({"name": "@series", "value": self.series_key})
        if self.instance_key is not None:
            query += " AND c.id = @id"
            parameters.append({"name": "@id", "value": doc_id("instance", self.instance_key)})
        return query, parameters


@dataclass(frozen=True)
class DeleteOutcome:
    hidden: int
    """Instances this delete hid (0: there was nothing to delete)."""
    remaining: int
    """Of those, how many are still to be purged in the background."""


# Instances a delete takes: visible ones, and ones an earlier attempt hid and did not purge.
_IN_SCOPE = "c.status = 'created' OR c.status = 'deleting'"
# The same for an intent carried out later: only what was stored before its request.
_IN_SCOPE_BEFORE = "(c.status = 'created' AND c.version < @before) OR c.status = 'deleting'"


async def _documents(
    clients: Clients,
    scope: DeleteScope,
    condition: str,
    select: str = "*",
    extra: Sequence[JsonDict] = (),
) -> list[Any]:
    query, parameters = scope.query(condition, select)
    return [
        doc
        async for doc in clients.index.query_items(
            query=query, parameters=[*parameters, *extra], partition_key=scope.study_key
        )
    ]


async def replace_unless_changed(
    clients: Clients, doc: JsonDict, **changes: object
) -> JsonDict | None:
    """``doc`` with ``changes``, written only if nobody changed it since it was read; None if
    someone did (a store, another delete or another sweep got there first)."""
    try:
        replaced: JsonDict = await clients.index.replace_item(
            doc["id"],
            {**doc, **changes},
            etag=doc["_etag"],
            match_condition=MatchConditions.IfNotModified,
        )
    except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
        return None
    return replaced


async def hide(clients: Clients, doc: JsonDict, lease_until: float) -> JsonDict | None:
    """Mark one instance ``deleting``; None if a store or another delete changed it first."""
    return await replace_unless_changed(clients, doc, status="deleting", leaseUntil=lease_until)


async def bounded(calls: Sequence[Awaitable[T]]) -> list[T | BaseException]:
    semaphore = asyncio.Semaphore(_CONCURRENCY)

    async def one(call: Awaitable[T]) -> T:
        async with semaphore:
            return await call

    return await asyncio.gather(*(one(c) for c in calls), return_exceptions=True)


def first_failure(results: Iterable[object]) -> BaseException | None:
    return next((r for r in results if isinstance(r, BaseException)), None)


async def hide_all(
    clients: Clients, docs: Sequence[JsonDict], lease_until: float
) -> list[JsonDict]:
    """Hide every document, then refresh the aggregates of their series and study.

    The aggregates count only visible instances, so they are refreshed even when a hide failed:
    the instances that were hidden leave search at once, and the retry finishes the rest.
    """
    results = await bounded([hide(clients, d, lease_until) for d in docs])
    await refresh_aggregates(clients, docs)
    failure = first_failure(results)
    if failure is not None:
        raise failure
    return [r for r in results if isinstance(r, dict)]


async def refresh_aggregates(clients: Clients, docs: Iterable[JsonDict]) -> None:
    """Recompute the series and study documents above ``docs`` from what is visible now."""
    await refresh_series_and_studies(clients.index, (instance_ref(d).series for d in docs))


async def purge(
    clients: Clients, hidden: Sequence[JsonDict], *, deadline: float | None = None
) -> int:
    """Delete the files, then the documents, of hidden instances, a chunk at a time.

    Stops between chunks once ``time.monotonic()`` passes ``deadline``; returns how many were
    purged. A document changed since it was hidden (a store took the instance over) is kept:
    the concurrent writer wins.
    """
    purged = 0
    for start in range(0, len(hidden), PURGE_CHUNK):
        if deadline is not None and time.monotonic() >= deadline:
            break
        chunk = hidden[start : start + PURGE_CHUNK]
        await clients.blobs.delete(
            name for doc in chunk for name in instance_ref(doc).version_blobs(doc["version"])
        )
        forgotten = [
            delete_if_unchanged(clients.index, d["id"], d["pk"], d["_etag"]) for d in chunk
        ]
        failure = first_failure(await bounded(forgotten))
        if failure is not None:
            raise failure
        purged += len(chunk)
    return purged


def _intent(scope: DeleteScope, lease_until: float) -> JsonDict:
    return {
        "id": scope.intent_id,
        "pk": scope.study_key,
        "type": "delete",
        "seriesKey": scope.series_key,
        "instanceKey": scope.instance_key,
        "before": new_version(),
        "leaseUntil": lease_until,
    }


async def carry_out(
    clients: Clients,
    intent: JsonDict,
    docs: Sequence[JsonDict] | None = None,
    *,
    lease_until: float,
    deadline: float | None,
) -> DeleteOutcome:
    """Hide and purge what ``intent`` covers (``docs`` when already read), then drop the intent.

    The intent stays when time runs out first, so whoever takes it over next finishes the rest.
    """
    scope = DeleteScope.of_intent(intent)
    if docs is None:
        before = [{"name": "@before", "value": intent["before"]}]
        docs = await _documents(clients, scope, _IN_SCOPE_BEFORE, extra=before)
    hidden = await hide_all(clients, docs, lease_until)
    purged = await purge(clients, hidden, deadline=deadline)
    if purged == len(hidden):
        await delete_if_unchanged(clients.index, intent["id"], intent["pk"], intent["_etag"])
    return DeleteOutcome(len(hidden), len(hidden) - purged)


async def delete(clients: Clients, scope: DeleteScope, *, inline_seconds: float) -> DeleteOutcome:
    """Record the intent, hide every instance of ``scope``, then purge for ``inline_seconds``.

    The lease covers the inline purge (and the one chunk that may run past its end), so the sweep
    does not start on what this request is still doing, and ends soon after: whatever is left
    then is the sweep's. A sweep that starts early only repeats idempotent deletes.
    """
    with unavailable_as_503():
        docs = await _documents(clients, scope, _IN_SCOPE)
        if not docs:
            return DeleteOutcome(0, 0)
        started = time.monotonic()
        lease_until = time.time() + inline_seconds + PURGE_OVERRUN_SECONDS
        intent = await clients.index.upsert_item(_intent(scope, lease_until))
        return await carry_out(
            clients, intent, docs, lease_until=lease_until, deadline=started + inline_seconds
        )


@dataclass(frozen=True)
class DeleteProgress:
    running: bool
    """The intent is still there, or hidden instances are left to purge."""
    remaining: int
    """Instances hidden and not yet purged."""


async def progress(clients: Clients, scope: DeleteScope) -> DeleteProgress:
    with unavailable_as_503():
        counts = await _documents(clients, scope, "c.status = 'deleting'", "VALUE COUNT(1)")
        left = int(counts[0]) if counts else 0
        intent = await read_document(clients.index, scope.intent_id, scope.study_key)
    return DeleteProgress(bool(left or intent is not None), left)
