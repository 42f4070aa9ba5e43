"""Reindex: bringing the instances stored before a tag was added up to it, as an operation.

The sweep carries each operation out under its lease, a page at a time: the visible instances
whose documents were built before the operation's registration (``TagIndex.stale_instances``),
each rewritten from its sidecar with the values of every registered tag, conditional on the
document being as read. A store that lands meanwhile writes its own document with the tags it
read, so the reindex never holds anything a store waits for, and a document a store rewrote is
simply skipped. The query is the checkpoint: a host killed mid-page leaves some documents done
and some not, and the next sweep, once the lease runs out, asks again and gets the rest. Memory
is one page of documents, whatever the size of the archive.

When no document is left, the operation's tags become ``Ready`` (``Disabled`` for search when
some value failed to index, as in the Azure DICOM service, which the owner may switch back on)
and the operation ``completed``. A tag added while a store is under way is caught either by
that store, which reads the registry again after its last commit (``catch_up``), or by the
reindex, which sees the store's document once it is committed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Iterable
from dataclasses import replace
from typing import Any

from shared.clients import Clients
from shared.dicom.query_tags import QueryStatus, TagStatus
from shared.services.delete import bounded, first_failure
from shared.services.query_tags import iso_time, save_tags
from shared.uid_index.index import LEASE_SECONDS, Index, IndexUnavailable, refresh_aggregates
from shared.uid_index.keys import InstanceRef
from shared.uid_index.sidecar import Sidecar
from shared.uid_index.tag_index import OperationStatus, ReindexOperation, StaleInstance, TagRegistry
from shared.uid_index.tag_values import NO_TAG_VALUES, TagValues
from shared.web.urls import query_tag_url

PAGE = 256
"""Instances reindexed per round: one query, then a sidecar read and a write each. 256 doubles
the rate of 64 on the emulator (docs/performance.md) and keeps a round to a few seconds and
about a megabyte of documents."""
_ATTEMPTS = 20


async def reindex_one(clients: Clients, stale: StaleInstance, registry: TagRegistry) -> bool:
    """Rewrite one instance's tag values from its sidecar; False if its document changed.

    A sidecar that is gone (verify's to find) gets no values, so the reindex does not come back
    to it.
    """
    data = await clients.blobs.get(stale.ref.sidecar_blob(stale.version))
    values = (
        NO_TAG_VALUES
        if data is None
        else TagValues.of(registry.tags, Sidecar.from_bytes(data).metadata)
    )
    return await clients.index.retag(stale, values, registry.generation)


async def catch_up(
    clients: Clients,
    stored: Iterable[InstanceRef],
    read: TagRegistry,
    current: Awaitable[TagRegistry],
) -> None:
    """After a store's last commit: if tags were added since it read ``read``, reindex what it
    stored, so that no instance misses a tag whose reindex may already have passed it.

    ``current`` is the registry as read after that commit (``RegistryReads.sent_after``)."""
    refs = list(stored)
    registry = await current
    if not refs:
        return
    if registry.generation == read.generation:
        return
    found = await bounded([clients.index.stale_instance(r, registry.generation) for r in refs])
    stale = [s for s in found if isinstance(s, StaleInstance)]
    results = await bounded([reindex_one(clients, s, registry) for s in stale])
    await refresh_aggregates(clients.index, {s.ref.series for s in stale})
    failure = first_failure([*found, *results])
    if failure is not None:
        raise failure


def _owns(registry: TagRegistry, operation: ReindexOperation) -> bool:
    return any(t.operation_id == operation.operation_id for t in registry.tags)


async def run(
    clients: Clients, operation: ReindexOperation, *, deadline: float
) -> ReindexOperation | None:
    """Carry ``operation`` out until ``time.monotonic()`` passes ``deadline`` or it completes;
    None when another sweep took it over meanwhile."""
    index = clients.index
    current: ReindexOperation | None = operation
    while current is not None and time.monotonic() < deadline:
        registry = await index.registry()
        if not _owns(registry, current):
            # Its tags were deleted, or never registered (a process died between the writes).
            return await _complete(index, current)
        stale = await index.stale_instances(current.generation, PAGE)
        if not stale:
            await _ready(clients, current)
            return await _complete(index, current)
        results = await bounded([reindex_one(clients, s, registry) for s in stale])
        await refresh_aggregates(index, {s.ref.series for s in stale})
        failure = first_failure(results)
        if failure is not None:
            raise failure
        current = await index.save_operation(
            replace(
                current,
                done=current.done + sum(r is True for r in results),
                updated=time.time(),
                lease_until=time.time() + LEASE_SECONDS,
            )
        )
    return current


async def _ready(clients: Clients, operation: ReindexOperation) -> None:
    """The operation's tags become Ready; disabled for search if some value failed."""
    index = clients.index
    for _ in range(_ATTEMPTS):
        registry = await index.registry()
        tags = []
        for tag in registry.tags:
            if tag.operation_id == operation.operation_id:
                failed = await index.error_count(tag.key) > 0
                tag = replace(
                    tag,
                    status=TagStatus.READY,
                    operation_id=None,
                    query_status=QueryStatus.DISABLED if failed else tag.query_status,
                )
            tags.append(tag)
        if await save_tags(clients, registry, tags, registry.generation):
            return
    raise IndexUnavailable("the extended query tags are changing too often, retry later")


async def _complete(index: Index, operation: ReindexOperation) -> ReindexOperation | None:
    now = time.time()
    return await index.save_operation(
        replace(operation, status=OperationStatus.COMPLETED, updated=now, lease_until=now)
    )


async def take_over(clients: Clients, operation: ReindexOperation) -> ReindexOperation | None:
    """Start or resume a due operation under a lease of our own, which each page renews, so a
    killed host's operation is resumed soon; None if another sweep won it."""
    total = operation.total
    if operation.status is OperationStatus.NOT_STARTED:
        total = await clients.index.visible_count()
    return await clients.index.save_operation(
        replace(
            operation,
            status=OperationStatus.RUNNING,
            total=total,
            updated=time.time(),
            lease_until=time.time() + LEASE_SECONDS,
        )
    )


def percent_complete(operation: ReindexOperation) -> int:
    """How far it has got; 100 only once completed (stores during a reindex may add to it)."""
    if operation.status is OperationStatus.COMPLETED:
        return 100
    if operation.total <= 0:
        return 0
    return min(99, operation.done * 100 // operation.total)


def operation_json(operation: ReindexOperation, root: str) -> dict[str, Any]:
    """A reindex operation as the Azure DICOM service shows it."""
    return {
        "operationId": operation.operation_id,
        "type": "reindex",
        "createdTime": iso_time(operation.created),
        "lastUpdatedTime": iso_time(operation.updated),
        "status": operation.status.value,
        "percentComplete": percent_complete(operation),
        "resources": [query_tag_url(root, path) for path in operation.tag_paths],
    }


def is_completed(operation: ReindexOperation) -> bool:
    """Whether the operation has finished: the Azure DICOM service answers 200 then, else 202."""
    return operation.status is OperationStatus.COMPLETED


async def find_operation(index: Index, operation_id: str) -> ReindexOperation | None:
    """The reindex operation an id names; None for anything this service did not hand out."""
    try:
        canonical = str(uuid.UUID(operation_id))
    except ValueError:
        return None
    return await index.operation(operation_id) if canonical == operation_id else None
