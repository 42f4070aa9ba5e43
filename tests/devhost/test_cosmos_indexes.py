"""The local Cosmos DB emulator's hash indexes (``devhost/cosmos_indexes.js``) change what a
query scans, never what it answers: queries bound to a partition or to a value of the indexed
path, given as a constant or a parameter, answer exactly the documents a scan of all of them
would, through creates, replaces that move a document to another value, and deletes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy

from shared.clients import Clients

pytestmark = pytest.mark.integration

POLICY = {
    "indexingMode": "consistent",
    "includedPaths": [{"path": "/*"}],
    "compositeIndexes": [
        [{"path": "/type", "order": "ascending"}, {"path": "/id", "order": "ascending"}]
    ],
}
TYPES = ("study", "series", "instance")


@pytest.fixture
async def container(storage: Clients) -> AsyncIterator[ContainerProxy]:
    database = await storage.index.client.create_database_if_not_exists(
        f"indexes-{uuid.uuid4().hex}"
    )
    try:
        yield await database.create_container(
            id="c", partition_key=PartitionKey(path="/pk"), indexing_policy=POLICY
        )
    finally:
        await storage.index.client.delete_database(database.id)


async def _ids(container: ContainerProxy, sql: str, **options: Any) -> set[str]:
    rows = container.query_items(sql, **options)
    return {row["id"] async for row in rows}


async def test_bound_queries_answer_what_a_full_scan_does(container: ContainerProxy) -> None:
    docs = {
        f"d{n}": {"id": f"d{n}", "pk": f"p{n % 5}", "type": TYPES[n % 3], "n": n} for n in range(60)
    }
    for doc in docs.values():
        await container.create_item(doc)

    def where(test: Any) -> set[str]:
        return {d["id"] for d in docs.values() if test(d)}

    parameter = [{"name": "@t", "value": "series"}]
    assert await _ids(
        container, "SELECT * FROM c WHERE c.type = @t", parameters=parameter
    ) == where(lambda d: d["type"] == "series")
    assert await _ids(container, "SELECT * FROM c WHERE c.n > 30 AND c.type = 'study'") == where(
        lambda d: d["n"] > 30 and d["type"] == "study"
    )
    assert await _ids(container, "SELECT * FROM r WHERE r.type = 'study' OR r.n = 1") == where(
        lambda d: d["type"] == "study" or d["n"] == 1
    )
    assert await _ids(
        container, "SELECT * FROM c WHERE c.type = 'instance'", partition_key="p2"
    ) == where(lambda d: d["type"] == "instance" and d["pk"] == "p2")
    assert await _ids(container, "SELECT * FROM c WHERE c.type = 'none'") == set()

    # A replace that moves a document to another value, and a delete, are followed at once.
    moved = {**docs["d0"], "type": "series"}
    await container.replace_item("d0", moved)
    docs["d0"] = moved
    await container.delete_item("d1", partition_key="p1")
    del docs["d1"]
    for kind in TYPES:
        found = await _ids(container, f"SELECT * FROM c WHERE c.type = '{kind}'")
        assert found == where(lambda d, kind=kind: d["type"] == kind)
    assert await _ids(container, "SELECT * FROM c", partition_key="p1") == where(
        lambda d: d["pk"] == "p1"
    )
