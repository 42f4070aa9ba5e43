"""Deleting instances so that no reader sees half a deletion and no file is lost track of.

For every instance concerned, in this order (each step over all of them before the next):

1. **hide**: the instance document becomes ``deleting`` (conditional on its etag), so every read
   stops seeing it at once; its lease makes a concurrent store of the same instance wait (45071).
2. **files**: the blobs of the version the document names are deleted.
3. **forget**: the document is deleted (conditional on the etag of step 1).

Series and study aggregates are then recomputed from what is left, with the same converging
refresh a store uses, so concurrent stores and deletes in one study end with exact counts. A
delete that dies midway leaves ``deleting`` documents: invisible to readers, and finished by the
retry of the DELETE (which picks them up) or superseded by a store once their lease runs out.
Only the named version's blobs are deleted, never the instance's whole folder, so files a
concurrent store is writing under a new version are never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.cosmos.exceptions import CosmosAccessConditionFailedError, CosmosResourceNotFoundError

from shared.clients import Clients
from shared.storage_errors import unavailable_as_503
from shared.uid_index.documents import instance_ref
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef
from shared.uid_index.writer import (
    LEASE_SECONDS,
    delete_if_unchanged,
    refresh_series,
    refresh_study,
)

_CONCURRENCY = 32
T = TypeVar("T")
_SELECT = (
    "SELECT * FROM c WHERE c.pk = @pk AND c.type = 'instance' "
    "AND (c.status = 'created' OR c.status = 'deleting')"
)


async def _documents(
    clients: Clients, study: StudyRef, condition: str, params: dict[str, str]
) -> list[dict[str, Any]]:
    parameters: list[dict[str, object]] = [{"name": "@pk", "value": study.key}]
    parameters += [{"name": f"@{k}", "value": v} for k, v in params.items()]
    return [
        doc
        async for doc in clients.index.query_items(
            query=_SELECT + condition, parameters=parameters, partition_key=study.key
        )
    ]


async def _hide(clients: Clients, doc: dict[str, Any]) -> dict[str, Any] | None:
    """Mark one instance ``deleting``; None if a store or another delete changed it first."""
    hidden = {**doc, "status": "deleting", "leaseUntil": time.time() + LEASE_SECONDS}
    try:
        marked: dict[str, Any] = await clients.index.replace_item(
            doc["id"], hidden, etag=doc["_etag"], match_condition=MatchConditions.IfNotModified
        )
    except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
        return None
    return marked


async def _bounded(calls: Sequence[Awaitable[T]]) -> list[T | BaseException]:
    semaphore = asyncio.Semaphore(_CONCURRENCY)

    async def one(call: Awaitable[T]) -> T:
        async with semaphore:
            return await call

    return await asyncio.gather(*(one(c) for c in calls), return_exceptions=True)


async def _delete(clients: Clients, study: StudyRef, condition: str = "", **params: str) -> int:
    with unavailable_as_503():
        return await _delete_documents(clients, study, condition, params)


async def _delete_documents(
    clients: Clients, study: StudyRef, condition: str, params: dict[str, str]
) -> int:
    """The three steps, each over all instances at once: hide all, delete files, forget all."""
    docs = await _documents(clients, study, condition, params)
    if not docs:
        return 0
    failure: BaseException | None = None
    hidden: list[dict[str, Any]] = []
    for result in await _bounded([_hide(clients, d) for d in docs]):
        if isinstance(result, BaseException):
            failure = failure or result
        elif result is not None:
            hidden.append(result)
    if failure is None:
        try:
            await clients.blobs.delete(
                name for doc in hidden for name in instance_ref(doc).version_blobs(doc["version"])
            )
        except Exception as exc:
            failure = exc
    if failure is None:
        forgotten = [
            delete_if_unchanged(clients.index, d["id"], d["pk"], d["_etag"]) for d in hidden
        ]
        for result in await _bounded(forgotten):
            if isinstance(result, BaseException):
                failure = failure or result
    # Aggregates count only visible instances, so refreshing them now also hides the instances
    # that a failure left half-deleted from search, until the retry finishes them.
    series = {d["seriesKey"]: SeriesRef(study, d["seriesUID"]) for d in docs}
    await asyncio.gather(*(refresh_series(clients.index, s) for s in series.values()))
    await refresh_study(clients.index, study)
    if failure is not None:
        raise failure
    return len(hidden)


async def delete_study(clients: Clients, study: StudyRef) -> int:
    """Delete every instance of the study; the number of instances deleted."""
    return await _delete(clients, study)


async def delete_series(clients: Clients, series: SeriesRef) -> int:
    return await _delete(clients, series.study, " AND c.seriesKey = @series", series=series.key)


async def delete_instance(clients: Clients, ref: InstanceRef) -> int:
    return await _delete(clients, ref.study, " AND c.id = @id", id=ref.doc_id)
