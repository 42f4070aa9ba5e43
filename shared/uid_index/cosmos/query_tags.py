"""Extended query tags on Cosmos DB: the registry document, reindex operations, tag errors.

The registry and the operations live in a partition of their own (``TAGS_PARTITION``); tag
values and errors live in the instance documents (``documents.with_tag_values``), so deleting an
instance deletes its errors with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import cast

from azure.cosmos.exceptions import CosmosResourceExistsError

from shared.dicom.query_tags import QueryTag
from shared.uid_index.cosmos import sql
from shared.uid_index.cosmos.guard import query_deadline, unavailable
from shared.uid_index.cosmos.items import CHANGED, Items, Row, body
from shared.uid_index.documents import (
    QUERY_TAGS,
    REINDEX,
    TAG_ERRORS,
    TAGS_PARTITION,
    InstanceDocument,
    OperationDocument,
    RegistryDocument,
    TagErrorEntry,
    instance_ref,
    with_tag_values,
)
from shared.uid_index.keys import InstanceRef
from shared.uid_index.lifecycle import Lifecycle
from shared.uid_index.tag_index import (
    OperationStatus,
    ReindexOperation,
    StaleInstance,
    TagError,
    TagRegistry,
)
from shared.uid_index.tag_values import TagValues


def _registry(row: Row | None) -> TagRegistry:
    if row is None:
        return TagRegistry()
    doc = cast(RegistryDocument, row)
    tags = tuple(QueryTag.from_json(t) for t in doc["tags"])
    return TagRegistry(tags, doc["generation"], doc["_etag"])


def _operation_id(operation_id: str) -> str:
    return f"{REINDEX}-{operation_id}"


def _operation_document(op: ReindexOperation) -> OperationDocument:
    return {
        "id": _operation_id(op.operation_id),
        "pk": TAGS_PARTITION,
        "type": REINDEX,
        "operationId": op.operation_id,
        "generation": op.generation,
        "tagPaths": list(op.tag_paths),
        "status": op.status.value,
        "total": op.total,
        "done": op.done,
        "created": op.created,
        "updated": op.updated,
        "leaseUntil": op.lease_until,
    }


def _operation(row: Row) -> ReindexOperation:
    doc = cast(OperationDocument, row)
    return ReindexOperation(
        operation_id=doc["operationId"],
        generation=doc["generation"],
        tag_paths=tuple(doc["tagPaths"]),
        status=OperationStatus(doc["status"]),
        total=int(doc["total"]),
        done=int(doc["done"]),
        created=float(doc["created"]),
        updated=float(doc["updated"]),
        lease_until=float(doc["leaseUntil"]),
        etag=doc["_etag"],
    )


def _stale(row: Row) -> StaleInstance:
    doc = cast(InstanceDocument, row)
    return StaleInstance(instance_ref(doc), doc["version"], doc["_etag"], doc)


def _built_before(doc: InstanceDocument, generation: str) -> bool:
    return doc.get("tagsAt", "") < generation


class CosmosTags(Items):
    """``shared.uid_index.tag_index.TagIndex`` on one Cosmos DB container."""

    async def registry(self) -> TagRegistry:
        with unavailable():
            return _registry(await self._read(QUERY_TAGS, TAGS_PARTITION))

    async def save_registry(
        self, read: TagRegistry, tags: Sequence[QueryTag], generation: str
    ) -> bool:
        doc: RegistryDocument = {
            "id": QUERY_TAGS,
            "pk": TAGS_PARTITION,
            "type": QUERY_TAGS,
            "tags": [t.to_json() for t in tags],
            "generation": generation,
        }
        with unavailable():
            try:
                if read.etag is None:
                    await self.container.create_item(body(doc))
                else:
                    await self._replace(doc, read.etag)
            except (*CHANGED, CosmosResourceExistsError):
                return False
        return True

    async def record_operation(self, operation: ReindexOperation) -> ReindexOperation:
        with unavailable():
            return _operation(
                await self.container.create_item(body(_operation_document(operation)))
            )

    async def operation(self, operation_id: str) -> ReindexOperation | None:
        with unavailable():
            row = await self._read(_operation_id(operation_id), TAGS_PARTITION)
        return None if row is None else _operation(row)

    async def save_operation(self, operation: ReindexOperation) -> ReindexOperation | None:
        with unavailable():
            try:
                return _operation(
                    await self._replace(_operation_document(operation), operation.etag)
                )
            except CHANGED:
                return None

    async def drop_operation(self, operation: ReindexOperation) -> None:
        with unavailable():
            await self._delete_unless_changed(
                _operation_id(operation.operation_id), TAGS_PARTITION, operation.etag
            )

    async def due_operations(self, now: float) -> list[ReindexOperation]:
        with unavailable():
            return [_operation(r) for r in await self._all(sql.due_operations(now), TAGS_PARTITION)]

    async def visible_count(self) -> int:
        async with query_deadline():
            with unavailable():
                counts = await self._all(sql.VISIBLE_COUNT)
        return int(sum(counts))

    async def stale_instances(self, generation: str, limit: int) -> list[StaleInstance]:
        async with query_deadline():
            with unavailable():
                rows = await self._all(sql.stale_instances(generation, limit))
        return [_stale(r) for r in rows]

    async def stale_instance(self, ref: InstanceRef, generation: str) -> StaleInstance | None:
        with unavailable():
            doc = await self._read_instance(ref)
        if doc is None or doc["status"] != Lifecycle.CREATED or not _built_before(doc, generation):
            return None
        return _stale(cast(Row, doc))

    async def retag(self, instance: StaleInstance, values: TagValues, generation: str) -> bool:
        doc = cast(InstanceDocument, instance.read_as)
        updated = with_tag_values(doc, values, generation, at=time.time())
        with unavailable():
            try:
                await self._replace(updated, instance.etag)
            except CHANGED:
                return False
        return True

    async def tag_errors(self, key: str, offset: int, limit: int) -> list[TagError]:
        async with query_deadline():
            with unavailable():
                rows = await self._all(sql.tag_errors(key, offset + limit))
        return [_tag_error(row, key) for row in rows[offset:]]

    async def error_count(self, key: str) -> int:
        async with query_deadline():
            with unavailable():
                counts = await self._all(sql.error_count(key))
        return int(sum(counts))


def _tag_error(row: Row, key: str) -> TagError:
    entries = cast(list[TagErrorEntry], row.get(TAG_ERRORS) or [])
    found = [e for e in entries if e["key"] == key]
    at, message = (found[0]["at"], found[0]["message"]) if found else (0.0, "")
    return TagError(row["studyUID"], row["seriesUID"], row["sopUID"], float(at), message)
