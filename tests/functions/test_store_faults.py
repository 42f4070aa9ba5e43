"""Storage failing in the middle of a store, clients vanishing, and the index rebuilt from blobs.

Each test ends by checking what a reader could see: every instance the client was told (or will
be told on retry) is stored is there, byte for byte, with exact counts and no claim left behind.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid

from devhost.stack import LocalStack
from shared.clients import Clients
from shared.config import DEFAULT_PARTITION
from shared.uid_index.index import InstanceEntry
from shared.uid_index.lifecycle import Lifecycle
from tests.data.builders import multipart, with_fresh_uids
from tests.functions.storage_checks import (
    CLAIMED_AFTER,
    instance_doc,
    ref_of,
    stored_file,
    study_doc,
)
from tests.functions.test_store import RELATED, failures, post, stored_uids

pytestmark = pytest.mark.integration


def study_files(count: int, template: str = "color3d_jpeg_baseline.dcm") -> tuple[str, list[Any]]:
    study = generate_uid()
    return study, [with_fresh_uids(template, study_uid=study) for _ in range(count)]


async def pending_claims(storage: Clients, study_key: str) -> list[InstanceEntry]:
    return [
        e
        for e in await storage.index.all_entries()
        if e.ref.study.key == study_key and e.status is Lifecycle.PENDING
    ]


async def assert_all_stored(storage: Clients, study: str, files: list[Any]) -> None:
    for data, ds in files:
        ref = ref_of(study, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        assert await stored_file(storage, ref) == data
    study_ref = ref_of(study, "1", "1").study
    doc = await study_doc(storage, study_ref)
    assert doc is not None and doc["numberOfInstances"] == len(files)
    assert await pending_claims(storage, study_ref.key) == []


async def retry_until_stored(http: httpx.AsyncClient, body: bytes, expected: int) -> None:
    """What a gateway does: retry the whole request; instances already stored answer 45070."""
    for _ in range(20):
        response = await post(http, body)
        if response.status_code in (200, 202, 409):
            assert failures(response) in ([], [45070] * len(failures(response)))
            if response.status_code != 409:
                assert len(stored_uids(response)) + len(failures(response)) == expected
            return
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"]
        await asyncio.sleep(0.5)
    raise AssertionError("the store never succeeded")


async def send_with_fault(
    http: httpx.AsyncClient, body: bytes, fault_at: int, fault: Any
) -> int | None:
    """Stream ``body``, calling ``fault`` after ``fault_at`` bytes; the status, if any came.

    ``fault`` runs on the event loop's thread (the stack's children belong to it) and must be
    idempotent: it is called for every chunk past ``fault_at``.
    """

    async def stream() -> AsyncIterator[bytes]:
        sent = 0
        while sent < len(body):
            chunk = body[sent : sent + 256 * 1024]
            sent += len(chunk)
            yield chunk
            if sent >= fault_at:
                fault()
            await asyncio.sleep(0)

    try:
        response = await post(http, stream())
    except httpx.TransportError:
        return None
    return response.status_code


async def test_azurite_stopped_mid_store_then_retry(
    stack: LocalStack, http: httpx.AsyncClient, storage: Clients
) -> None:
    study, files = study_files(4)
    body = multipart([data for data, _ in files])
    stopped = []

    def stop_storage() -> None:
        if not stopped:
            stack.stop_azurite()
            stopped.append(True)

    status = await send_with_fault(http, body, len(body) // 2, stop_storage)
    assert stopped
    assert status in (None, 503)
    stack.start_azurite()
    await retry_until_stored(http, body, len(files))
    await assert_all_stored(storage, study, files)


async def test_cosmos_restarted_mid_store_then_rebuilt_and_retried(
    stack: LocalStack, http: httpx.AsyncClient, storage: Clients
) -> None:
    """The emulator loses the whole index when it stops; the rebuild brings it back from blobs."""
    earlier_study, earlier = study_files(2, "CT_small.dcm")
    assert (await post(http, multipart([d for d, _ in earlier]))).status_code == 200

    study, files = study_files(4)
    body = multipart([data for data, _ in files])
    restarted = []

    def restart_index() -> None:
        if not restarted:
            stack.restart_cosmos()
            restarted.append(True)

    status = await send_with_fault(http, body, len(body) // 2, restart_index)
    assert restarted
    assert status in (None, 200, 202, 503)
    stack.prepare()  # what `make run` does when the emulator comes up empty
    await retry_until_stored(http, body, len(files))
    await assert_all_stored(storage, study, files)
    await assert_all_stored(storage, earlier_study, earlier)


async def test_client_disconnect_releases_the_claim(
    base_url: str, http: httpx.AsyncClient, storage: Clients
) -> None:
    study, files = study_files(1)  # 6 MB: claimed before its first block is staged
    body = multipart([data for data, _ in files])
    host, port = base_url.removeprefix("http://").split(":")
    head = (
        f"POST /v2/studies HTTP/1.1\r\nHost: {host}\r\nContent-Type: {RELATED}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    _, ds = files[0]
    ref = ref_of(study, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(head + body[:CLAIMED_AFTER])
        # The claim exists while the upload is under way...
        for _ in range(100):
            if await instance_doc(storage, ref) is not None:
                break
            await asyncio.sleep(0.05)
        assert (await instance_doc(storage, ref) or {}).get("status") == "pending"
    # ...and is released once the server sees the client go, long before its 30 s lease ends.
    for _ in range(100):
        if await instance_doc(storage, ref) is None:
            break
        await asyncio.sleep(0.05)
    assert await instance_doc(storage, ref) is None
    response = await post(http, body)
    assert response.status_code == 200, response.text
    await assert_all_stored(storage, study, files)


async def test_rebuilt_index_equals_the_live_one(
    stack: LocalStack, http: httpx.AsyncClient, storage: Clients
) -> None:
    study, files = study_files(3, "MR_small.dcm")
    series = generate_uid()
    more = [with_fresh_uids("CT_small.dcm", study_uid=study, series_uid=series) for _ in range(2)]
    files += more
    assert (await post(http, multipart([d for d, _ in files]))).status_code == 200
    study_key = ref_of(study, "1", "1").study.key

    async def documents() -> list[dict[str, Any]]:
        # Refresh-due markers are the sweep's work list, not index content: a rebuild refreshes
        # every aggregate itself.
        query = "SELECT * FROM c WHERE c.pk = @pk AND c.type != 'refresh'"
        params: list[dict[str, object]] = [{"name": "@pk", "value": study_key}]
        docs = [
            d
            async for d in storage.index.container.query_items(
                query, parameters=params, partition_key=study_key
            )
        ]
        for d in docs:
            for system in ("_rid", "_self", "_etag", "_attachments", "_ts"):
                d.pop(system, None)
            # What a rebuild cannot keep: when each change committed, and its sequence.
            for feed_only in ("changedAt", "timestamp", "seq"):
                d.pop(feed_only, None)
        return sorted(docs, key=lambda d: d["id"])

    async def feed_order() -> list[str]:
        await storage.index.number_changes(DEFAULT_PARTITION)
        changes = await storage.index.changes_after(DEFAULT_PARTITION, 0, 10**9)
        return [c.ref.sop_instance_uid for c in changes if c.ref.study.key == study_key]

    partition = f"rebuilt-{uuid.uuid4().hex[:8]}"
    in_partition = multipart([d for d, _ in files[:1]])
    response = await post(http, in_partition, path=f"/v2/partitions/{partition}/studies")
    assert response.status_code == 200

    live = await documents()
    assert len(live) == 5 + 5 + 4 + 1
    live_partitions = {p.name: p.created for p in await storage.index.partitions()}
    stack.restart_cosmos()
    output = stack.prepare()
    assert "index rebuilt" in output
    assert await documents() == live
    # The feed again: one entry per instance, in the order their stores began.
    by_version = sorted((d["version"], d["sopUID"]) for d in live if d["type"] == "instance")
    assert await feed_order() == [uid for _, uid in by_version]
    # Partitions with files come back, with their oldest file's time: here the store made it
    # just before it recorded the partition. (One whose every instance was deleted does not.)
    rebuilt = {p.name: p.created for p in await storage.index.partitions()}
    assert rebuilt.keys() <= live_partitions.keys() and partition in rebuilt
    assert 0 <= live_partitions[partition] - rebuilt[partition] < 5


async def test_azurite_stopped_during_a_study_delete_then_retry(
    stack: LocalStack, http: httpx.AsyncClient, storage: Clients
) -> None:
    from shared.services.verify import verify

    study, files = study_files(6, "CT_small.dcm")
    assert (await post(http, multipart([d for d, _ in files]))).status_code == 200
    stack.stop_azurite()
    try:
        response = await http.delete(f"/v2/studies/{study}")
        assert response.status_code == 503
        assert response.headers["retry-after"]
    finally:
        stack.start_azurite()
    # Nothing of the half-deleted study is visible meanwhile.
    study_key = ref_of(study, "1", "1").study.key
    assert await storage.index.visible(ref_of(study, "1", "1").study) == []
    assert await study_doc(storage, ref_of(study, "1", "1").study) is None
    assert (await http.delete(f"/v2/studies/{study}")).status_code == 204
    assert await study_doc(storage, ref_of(study, "1", "1").study) is None
    report = await verify(storage, repair=False)
    assert not [f for f in report.findings if study_key in f.subject]
    assert [n async for n in storage.blobs.names(f"Microsoft.Default/{study_key}/")] == []


async def test_cosmos_restarted_during_a_study_delete_then_rebuilt_and_retried(
    stack: LocalStack, http: httpx.AsyncClient, storage: Clients
) -> None:
    """The index vanishes mid-delete; the rebuild restores what has files; the retry ends it."""
    from shared.services.verify import verify

    study, files = study_files(6, "CT_small.dcm")
    assert (await post(http, multipart([d for d, _ in files]))).status_code == 200
    study_ref = ref_of(study, "1", "1").study

    async def delete() -> httpx.Response:
        return await http.delete(f"/v2/studies/{study}")

    attempt = asyncio.create_task(delete())
    await asyncio.sleep(0.02)
    stack.restart_cosmos()
    first = await attempt
    assert first.status_code in (204, 404, 503), first.text
    stack.prepare()
    second = await delete()
    # Whatever the first attempt managed, the study ends deleted: 204 if the rebuild brought
    # some instances back, 404 if the first attempt had already removed every file.
    assert second.status_code in (204, 404)
    assert await study_doc(storage, study_ref) is None
    assert [n async for n in storage.blobs.names(study_ref.blob_prefix)] == []
    report = await verify(storage, repair=False)
    assert not [f for f in report.findings if study_ref.key in f.subject]
