"""Managing extended query tags: add them (and start their reindex), list, read, switch, delete.

Every change reads the registry, checks the request against it, and writes it back conditional
on what it read; a concurrent change makes it start over on the newer registry, so two owners
adding tags at once both land, or one is refused for a reason that holds after the other.

Adding records the reindex operation before the tags: a process that dies in between leaves an
operation with no tags of its own, which the sweep completes at once, never a tag in ``Adding``
that no operation will finish. Deleting takes the tag out of the registry in one write: its
values stay in the documents under the registration's key, which nothing reads any more, until
each document is next rewritten (``shared.dicom.query_tags``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from shared.clients import Clients
from shared.dicom.query_tags import (
    QueryTag,
    TagStatus,
    find,
    new_tags,
    parse_tag_path,
    with_query_status,
)
from shared.errors import NotFound
from shared.services.delete import bounded, first_failure
from shared.uid_index.index import Index, IndexUnavailable
from shared.uid_index.keys import QUERY_TAGS_BLOB, version_after
from shared.uid_index.tag_index import OperationStatus, ReindexOperation, TagError, TagRegistry
from shared.web.urls import operation_url, query_tag_url

_ATTEMPTS = 20
"""Conditional writes of the registry before giving up on a storm of concurrent changes."""


@dataclass(frozen=True)
class TagState:
    """A registered tag and how many stored instances failed to index its value."""

    tag: QueryTag
    errors: int


async def save_tags(
    clients: Clients, read: TagRegistry, tags: Sequence[QueryTag], generation: str
) -> bool:
    """Replace the registry unless it changed since ``read`` (False then), and mirror it in blob
    storage, the system of record, so that a rebuilt index gets its tags back
    (``restore_tags``). A process dying between the two writes leaves the mirror one change
    behind."""
    if not await clients.index.save_registry(read, tags, generation):
        return False
    clients.registry_reads.forget()
    mirror = {"generation": generation, "tags": [t.to_json() for t in tags]}
    await clients.blobs.put(QUERY_TAGS_BLOB, json.dumps(mirror).encode(), "application/json")
    return True


async def restore_tags(clients: Clients) -> int:
    """Put the mirrored tags back into an index that has no registry (a rebuild's first step);
    how many. They are ``Ready``: the rebuild that follows indexes every instance on them."""
    data = await clients.blobs.get(QUERY_TAGS_BLOB)
    registry = await clients.index.registry()
    if data is None or registry.etag is not None:
        return 0
    mirror = json.loads(data)
    tags = [
        replace(QueryTag.from_json(t), status=TagStatus.READY, operation_id=None)
        for t in mirror["tags"]
    ]
    if not await clients.index.save_registry(registry, tags, mirror["generation"]):
        return 0
    clients.registry_reads.forget()
    return len(tags)


async def add_tags(clients: Clients, body: Any) -> ReindexOperation:
    """Register the tags of a POST body; the reindex operation that brings stored instances up
    to them, which the sweep carries out."""
    index = clients.index
    for _ in range(_ATTEMPTS):
        registry = await index.registry()
        # Newer than every document's generation, whatever the clocks of the hosts that wrote.
        generation, operation_id = version_after(registry.generation), str(uuid.uuid4())
        tags = new_tags(body, registry.tags, generation, operation_id)
        now = time.time()
        operation = await index.record_operation(
            ReindexOperation(
                operation_id=operation_id,
                generation=generation,
                tag_paths=tuple(t.path for t in tags),
                status=OperationStatus.NOT_STARTED,
                total=0,
                done=0,
                created=now,
                updated=now,
                lease_until=0.0,
            )
        )
        if await save_tags(clients, registry, (*registry.tags, *tags), generation):
            return operation
        await index.drop_operation(operation)
    raise IndexUnavailable("the extended query tags are changing too often, retry later")


async def _rewrite(
    clients: Clients, path: str, rewrite: Callable[[QueryTag], list[QueryTag]]
) -> list[QueryTag]:
    """Put ``rewrite(tag)`` (one tag, or none to remove it) in place of the tag at ``path``,
    conditional on the registry read; NotFound when no such tag is registered."""
    for _ in range(_ATTEMPTS):
        registry = await clients.index.registry()
        tag = _registered(registry, path)
        replacement = rewrite(tag)
        tags = [new for t in registry.tags for new in (replacement if t is tag else [t])]
        if await save_tags(clients, registry, tags, registry.generation):
            return replacement
    raise IndexUnavailable("the extended query tags are changing too often, retry later")


def _registered(registry: TagRegistry, path: str) -> QueryTag:
    tag = find(registry.tags, path)
    if tag is None:
        raise NotFound("no such extended query tag")
    return tag


async def _state(index: Index, tag: QueryTag) -> TagState:
    return TagState(tag, await index.error_count(tag.key))


async def list_tags(index: Index, offset: int, limit: int) -> list[TagState]:
    registry = await index.registry()
    page = registry.tags[offset : offset + limit]
    # One error count per tag, a bounded number at once: a page holds up to 128 tags.
    results = await bounded([_state(index, t) for t in page])
    if (failure := first_failure(results)) is not None:
        raise failure
    return [r for r in results if isinstance(r, TagState)]


async def get_tag(index: Index, tag_path: str) -> TagState:
    registry = await index.registry()
    return await _state(index, _registered(registry, parse_tag_path(tag_path)))


async def set_query_status(clients: Clients, tag_path: str, body: Any) -> TagState:
    [changed] = await _rewrite(
        clients, parse_tag_path(tag_path), lambda tag: [with_query_status(tag, body)]
    )
    return await _state(clients.index, changed)


async def delete_tag(clients: Clients, tag_path: str) -> None:
    await _rewrite(clients, parse_tag_path(tag_path), lambda tag: [])


async def tag_errors(index: Index, tag_path: str, offset: int, limit: int) -> list[TagError]:
    registry = await index.registry()
    tag = _registered(registry, parse_tag_path(tag_path))
    return await index.tag_errors(tag.key, offset, limit)


# The JSON of the Azure DICOM service's answers ---------------------------------------------------


def tag_json(state: TagState, root: str) -> dict[str, Any]:
    """An extended query tag as the Azure DICOM service shows it; ``root`` is the versioned base
    URL."""
    tag = state.tag
    body: dict[str, Any] = {"path": tag.path, "vr": tag.vr}
    if tag.private_creator is not None:
        body["privateCreator"] = tag.private_creator
    body.update(
        level=tag.level.value,
        status=tag.status.value,
        queryStatus=tag.query_status.value,
        errors={"count": state.errors, "href": f"{query_tag_url(root, tag.path)}/errors"},
    )
    if tag.operation_id is not None:
        body["operation"] = operation_reference(tag.operation_id, root)
    return body


def operation_reference(operation_id: str, root: str) -> dict[str, str]:
    return {"id": operation_id, "href": operation_url(root, operation_id)}


def error_json(error: TagError) -> dict[str, Any]:
    return {
        "studyInstanceUid": error.study_uid,
        "seriesInstanceUid": error.series_uid,
        "sopInstanceUid": error.sop_uid,
        "createdTime": iso_time(error.created),
        "errorMessage": error.message,
    }


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
