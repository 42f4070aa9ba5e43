"""Reading and conditionally writing the documents of one container: what every part of the
adapter builds on."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

from azure.core import MatchConditions
from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosAccessConditionFailedError, CosmosResourceNotFoundError

from shared.uid_index.cosmos import sql
from shared.uid_index.documents import Document, InstanceDocument
from shared.uid_index.keys import InstanceRef

CHANGED = (CosmosAccessConditionFailedError, CosmosResourceNotFoundError)
"""A conditional write that failed because someone else got there first."""

Row = dict[str, Any]
"""A document or projection as the SDK hands it out; typed at the first look."""


def body(doc: Document) -> Row:
    """A document as the SDK takes it."""
    return cast(Row, doc)


class Items:
    """Point reads, conditional replaces and deletes, and queries, on one container."""

    def __init__(self, container: ContainerProxy) -> None:
        self.container = container

    async def _read(self, id_: str, key: str) -> Row | None:
        """A point read; None when the document is not there."""
        try:
            doc: Row = await self.container.read_item(id_, partition_key=key)
            return doc
        except CosmosResourceNotFoundError:
            return None

    async def _read_instance(self, ref: InstanceRef) -> InstanceDocument | None:
        return cast(InstanceDocument | None, await self._read(ref.doc_id, ref.study.key))

    async def _replace(self, doc: Document, etag: str) -> Row:
        result: Row = await self.container.replace_item(
            doc["id"], body(doc), etag=etag, match_condition=MatchConditions.IfNotModified
        )
        return result

    async def _replace_unless_changed(self, doc: Row, **changes: object) -> Row | None:
        try:
            return await self._replace(cast(Document, {**doc, **changes}), doc["_etag"])
        except CHANGED:
            return None

    async def _delete_unless_changed(self, id_: str, key: str, etag: str) -> None:
        with contextlib.suppress(*CHANGED):
            await self.container.delete_item(
                id_, partition_key=key, etag=etag, match_condition=MatchConditions.IfNotModified
            )

    def _rows(self, query: sql.Query, key: str | None = None, **options: Any) -> AsyncIterator[Any]:
        parameters = [{"name": f"@{name}", "value": value} for name, value in query.params.items()]
        return self.container.query_items(
            query=query.text, parameters=parameters, partition_key=key, **options
        )

    async def _all(self, query: sql.Query, key: str | None = None) -> list[Any]:
        return [row async for row in self._rows(query, key)]
