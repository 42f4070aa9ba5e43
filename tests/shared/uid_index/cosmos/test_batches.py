"""Group commit against the Cosmos emulator: batches of one partition sent at once share
requests, every one lands or fails as it would alone, and a member's failure names its own
operation while the members grouped with it still land."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from azure.cosmos.exceptions import CosmosBatchOperationError

from shared.clients import Clients
from shared.storage import calls
from shared.uid_index.cosmos.batches import GroupedBatches

pytestmark = pytest.mark.integration


def _doc(pk: str, n: int) -> dict[str, object]:
    return {"id": f"grouped-{uuid.uuid4().hex}-{n}", "pk": pk, "type": "test", "n": n}


async def _ids(storage: Clients, pk: str) -> set[str]:
    query = "SELECT VALUE c.id FROM c WHERE c.pk = @pk"
    rows = storage.index.container.query_items(
        query, parameters=[{"name": "@pk", "value": pk}], partition_key=pk
    )
    return {row async for row in rows}


async def test_batches_sent_at_once_share_requests_and_all_land(storage: Clients) -> None:
    pk = uuid.uuid4().hex
    batches = GroupedBatches(storage.index.container)
    docs = [(_doc(pk, 2 * n), _doc(pk, 2 * n + 1)) for n in range(12)]
    with calls.counting() as tally:
        results = await asyncio.gather(
            *(
                batches.execute([("create", (a,)), ("create", (b,))], partition_key=pk)
                for a, b in docs
            )
        )
    assert [[r["resourceBody"]["id"] for r in result] for result in results] == [
        [a["id"], b["id"]] for a, b in docs
    ]
    assert await _ids(storage, pk) == {d["id"] for pair in docs for d in pair}
    # The first goes alone; the rest queue behind it and go together.
    assert tally[calls.INDEX] < len(docs)


async def test_a_member_failing_gets_its_own_error_and_the_others_land(storage: Clients) -> None:
    pk = uuid.uuid4().hex
    taken = _doc(pk, 0)
    await storage.index.container.create_item(taken)
    batches = GroupedBatches(storage.index.container)
    first, second, third = _doc(pk, 1), _doc(pk, 2), _doc(pk, 3)
    outcomes = await asyncio.gather(
        batches.execute([("create", (first,))], partition_key=pk),
        # Its second operation fails: the document exists.
        batches.execute([("create", (second,)), ("create", (taken,))], partition_key=pk),
        batches.execute([("create", (third,))], partition_key=pk),
        return_exceptions=True,
    )
    failure = outcomes[1]
    assert isinstance(failure, CosmosBatchOperationError)
    assert failure.error_index == 1 and failure.status_code == 409
    assert not isinstance(outcomes[0], BaseException)
    assert not isinstance(outcomes[2], BaseException)
    # All or nothing for the failed member only.
    assert await _ids(storage, pk) == {taken["id"], first["id"], third["id"]}


async def test_a_replace_on_a_stale_etag_fails_as_alone(storage: Clients) -> None:
    pk = uuid.uuid4().hex
    doc = _doc(pk, 0)
    created = await storage.index.container.create_item(doc)
    await storage.index.container.replace_item(doc["id"], {**doc, "n": 1})
    batches = GroupedBatches(storage.index.container)
    other = _doc(pk, 2)
    stale, fresh = await asyncio.gather(
        batches.execute(
            [("replace", (doc["id"], {**doc, "n": 9}), {"if_match_etag": created["_etag"]})],
            partition_key=pk,
        ),
        batches.execute([("create", (other,))], partition_key=pk),
        return_exceptions=True,
    )
    assert isinstance(stale, CosmosBatchOperationError)
    assert stale.error_index == 0 and stale.status_code == 412
    assert not isinstance(fresh, BaseException)
    assert await _ids(storage, pk) == {doc["id"], other["id"]}


async def test_callers_batching_one_after_another_never_wait_forever(storage: Clients) -> None:
    """Two callers each send their next batch as soon as the last returns: every batch is taken
    by a sender, however the senders' ends and the new batches interleave."""
    pk = uuid.uuid4().hex
    batches = GroupedBatches(storage.index.container)

    async def one_after_another(n: int) -> None:
        for i in range(15):
            await batches.execute([("create", (_doc(pk, 100 * n + i),))], partition_key=pk)

    await asyncio.wait_for(asyncio.gather(*(one_after_another(n) for n in range(3))), 60)
    assert len(await _ids(storage, pk)) == 45


async def test_batches_writing_one_document_go_apart(storage: Clients) -> None:
    """Two upserts of one document are never in one grouped batch: each goes in a request of
    its own and lands as it would alone."""
    pk = uuid.uuid4().hex
    batches = GroupedBatches(storage.index.container)
    marker = _doc(pk, 0)
    await batches.execute([("create", (marker,))], partition_key=pk)  # the SDK warmed up
    with calls.counting() as tally:
        await asyncio.gather(
            *(
                batches.execute(
                    [("create", (_doc(pk, n),)), ("upsert", ({**marker, "n": n},))],
                    partition_key=pk,
                )
                for n in range(1, 4)
            )
        )
    assert tally[calls.INDEX] == 3
    written = await storage.index.container.read_item(marker["id"], partition_key=pk)
    assert written["n"] in (1, 2, 3)
