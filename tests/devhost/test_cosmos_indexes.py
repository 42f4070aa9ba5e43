"""The local Cosmos DB emulator's indexes (``devhost/cosmos_indexes.js``) change what a query
scans, never what it answers: queries bound to a partition or to values of an indexed path (a
constant or a parameter, ``=`` or ``IN``), and TOP queries in id order, answer exactly what a
scan of all documents would, through creates, replaces that move a document to another value,
and deletes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy

from shared.clients import Clients
from shared.uid_index.documents import SEARCH_KEYS

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


async def test_queries_on_a_search_key_answer_what_a_full_scan_does(
    container: ContainerProxy,
) -> None:
    """Search keys (``q``) are indexed one level deep, on scalar values only: an array, a deeper
    path or another type of value is answered by the emulator's own scan of the candidates."""
    patients = ("A", "B", "C")
    docs: dict[str, dict[str, Any]] = {}
    for n in range(45):
        q: dict[str, Any] = {"PatientID": patients[n % 3], "n": n % 4, "deep": {"x": n % 2}}
        if n % 5 == 0:
            q["PatientID"] = [patients[n % 3]]  # an array never equals a string
        docs[f"d{n}"] = {"id": f"d{n}", "pk": f"p{n % 5}", "type": TYPES[n % 3], "q": q}
    docs["bare"] = {"id": "bare", "pk": "p0", "type": "study"}
    for doc in docs.values():
        await container.create_item(doc)

    def where(test: Any) -> set[str]:
        return {d["id"] for d in docs.values() if "q" in d and test(d["q"], d)}

    for patient in patients:
        parameter = [{"name": "@p", "value": patient}]
        assert await _ids(
            container,
            "SELECT * FROM c WHERE c.type = 'study' AND c.q.PatientID = @p",
            parameters=parameter,
        ) == where(lambda q, d, p=patient: d["type"] == "study" and q["PatientID"] == p)
    assert await _ids(container, "SELECT * FROM c WHERE c.q.n = 2") == where(
        lambda q, d: q["n"] == 2
    )
    assert await _ids(container, "SELECT * FROM c WHERE c.q.n = '2'") == set()
    assert await _ids(container, "SELECT * FROM c WHERE c.q.deep.x = 1") == where(
        lambda q, d: q["deep"]["x"] == 1
    )

    # A replace that changes a search key's value moves the document at once.
    moved = {**docs["d3"], "q": {**docs["d3"]["q"], "PatientID": "Z"}}
    await container.replace_item("d3", moved)
    docs["d3"] = moved
    await container.delete_item("d6", partition_key="p1")
    del docs["d6"]
    for patient in (*patients, "Z"):
        found = await _ids(container, f"SELECT * FROM c WHERE c.q.PatientID = '{patient}'")
        assert found == where(lambda q, d, p=patient: q["PatientID"] == p)


async def test_in_lists_answer_what_a_full_scan_does(container: ContainerProxy) -> None:
    """``IN`` on the partition key, an indexed path or a search key reads the documents holding
    any of the values; a list with a value no index holds (a column) is scanned as before."""
    docs = {
        f"d{n}": {
            "id": f"d{n}",
            "pk": f"p{n % 6}",
            "type": TYPES[n % 3],
            "q": {"PatientID": f"P{n % 4}"},
            "n": n % 6,
        }
        for n in range(72)
    }
    for doc in docs.values():
        await container.create_item(doc)

    def where(test: Any) -> set[str]:
        return {d["id"] for d in docs.values() if test(d)}

    parameters = [{"name": "@a", "value": "p1"}, {"name": "@b", "value": "P2"}]
    cases = {
        "c.pk IN ('p0', @a, 'none')": lambda d: d["pk"] in ("p0", "p1"),
        "c.pk IN (@a) AND c.type = 'study'": lambda d: d["pk"] == "p1" and d["type"] == "study",
        "c.type IN ('series', 'instance') AND c.n = 2": lambda d: (
            d["type"] != "study" and d["n"] == 2
        ),
        "c.q.PatientID IN (@b, 'P3') AND c.pk IN ('p2', 'p3')": lambda d: (
            d["q"]["PatientID"] in ("P2", "P3") and d["pk"] in ("p2", "p3")
        ),
        "c.pk IN ('p4', c.id)": lambda d: d["pk"] == "p4",
        "c.n IN (1, 5)": lambda d: d["n"] in (1, 5),
    }
    for condition, test in cases.items():
        sql = f"SELECT * FROM c WHERE {condition}"
        assert await _ids(container, sql, parameters=parameters) == where(test), condition


async def _page_ids(container: ContainerProxy, sql: str, **options: Any) -> list[str]:
    """The ids a query answers, in its order, read a page at a time when a page size is given."""
    pages = container.query_items(sql, **options).by_page()
    return [row["id"] async for page in pages async for row in page]


async def test_top_queries_by_id_answer_what_a_full_scan_does(container: ContainerProxy) -> None:
    """A TOP query in id order reads a prefix of its candidates by id, longer while too few
    match: the same rows in the same order as the whole set, in pages too, through writes."""
    docs = {
        f"d{n:04}": {"id": f"d{n:04}", "pk": f"p{n % 4}", "type": TYPES[n % 3 % 2], "n": n}
        for n in range(900)
    }
    for doc in docs.values():
        await container.create_item(doc)
    # The same id in another partition: ids tie across partitions.
    twins = [{**docs["d0003"], "pk": "twin"}, {**docs["d0600"], "pk": "twin"}]
    for twin in twins:
        await container.create_item(twin)
    rows = [*docs.values(), *twins]

    def first(top: int, test: Any) -> list[str]:
        return sorted(d["id"] for d in rows if d["type"] == "study" and test(d))[:top]

    async def check(top: int, condition: str, test: Any, **options: Any) -> None:
        sql = f"SELECT TOP {top} c.id FROM c WHERE c.type = 'study' AND {condition} ORDER BY c.id"
        assert await _page_ids(container, sql, **options) == first(top, test)

    await check(20, "c.n % 7 = 0", lambda d: d["n"] % 7 == 0)  # found in the first prefix
    await check(10, "c.n % 97 = 0", lambda d: d["n"] % 97 == 0)  # too few there: read on
    await check(50, "c.n >= 0", lambda d: True, max_item_count=7)  # in pages
    await check(400, "c.n >= 0", lambda d: True)  # a TOP near the whole set
    parameter = [{"name": "@top", "value": 30}]
    sql = "SELECT TOP @top c.id FROM c WHERE c.type = 'study' ORDER BY c.id"
    expected = first(30, lambda d: True)
    assert await _page_ids(container, sql, parameters=parameter) == expected
    assert "d0003" in expected  # and its twin, tied on id
    descending = "SELECT TOP 5 c.id FROM c WHERE c.type = 'study' ORDER BY c.id DESC"
    assert (
        await _page_ids(container, descending)
        == sorted((d["id"] for d in rows if d["type"] == "study"), reverse=True)[:5]
    )

    # Each write is followed at once: a document leaving the set, one entering at its front, one
    # moved out by a replace.
    await container.delete_item("d0000", partition_key="p0")
    rows = [d for d in rows if d["id"] != "d0000" or d["pk"] != "p0"]
    await check(30, "c.n >= 0", lambda d: True)
    front = {"id": "a0000", "pk": "p1", "type": "study", "n": 7}
    await container.create_item(front)
    rows.append(front)
    await check(20, "c.n % 7 = 0", lambda d: d["n"] % 7 == 0)
    moved = {**docs["d0014"], "type": "series"}
    await container.replace_item("d0014", moved)
    rows = [moved if d is docs["d0014"] else d for d in rows]
    await check(20, "c.n % 7 = 0", lambda d: d["n"] % 7 == 0)


def test_the_emulator_indexes_the_documents_search_keys() -> None:
    script = (Path(__file__).resolve().parents[2] / "devhost" / "cosmos_indexes.js").read_text()
    assert f'const SEARCH_KEYS = "{SEARCH_KEYS}";' in script
