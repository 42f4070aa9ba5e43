"""Deletes finished in the background, and the sweep clearing up after requests that died.

A stack of its own, whose DELETEs purge nothing inline (so every delete takes the 202 path, as a
10,000-instance study does against the Functions time limit) and whose sweep runs every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid

from devhost.stack import LocalStack
from shared.clients import Clients
from shared.services.verify import verify
from shared.uid_index.keys import StudyRef
from tests.conftest import own_stack
from tests.data.builders import multipart, with_fresh_uids
from tests.functions.storage_checks import (
    CLAIMED_AFTER,
    blob_names,
    instance_doc,
    ref_of,
    series_doc,
    study_doc,
)
from tests.functions.test_store import RELATED, ct, post
from tests.functions.test_store_partial import OPENING, assert_exactly_visible

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from own_stack(
        tmp_path_factory,
        "background",
        DICOMWEB_DELETE_INLINE_SECONDS="0",
        DICOMWEB_SWEEP_SCHEDULE="*/1 * * * * *",
    )


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 120) -> None:
    """Wait for ``check`` to hold, as the sweep runs on its own schedule."""
    give_up = time.monotonic() + within
    while not await check():
        assert time.monotonic() < give_up, "the sweep did not get there in time"
        await asyncio.sleep(0.2)


async def store_study(
    http: httpx.AsyncClient, series_count: int, per_series: int, study: str | None = None
) -> tuple[str, list[str], list[Any]]:
    study = study or generate_uid()
    series = [generate_uid() for _ in range(series_count)]
    files = [
        with_fresh_uids("CT_small.dcm" if i % 2 else "MR_small.dcm", study_uid=study, series_uid=s)
        for i, s in enumerate(series)
        for _ in range(per_series)
    ]
    response = await post(http, multipart([d for d, _ in files]))
    assert response.status_code == 200, response.text
    return study, series, files


async def partition_documents(
    storage: Clients, study: str, *, with_history: bool = False
) -> list[dict[str, Any]]:
    """The study's documents; without what a delete keeps on purpose unless ``with_history``:
    its change feed entries, and each purged instance's tombstone."""
    key = StudyRef("Microsoft.Default", study).key
    query = "SELECT * FROM c WHERE c.pk = @pk"
    params: list[dict[str, object]] = [{"name": "@pk", "value": key}]
    return [
        d
        async for d in storage.index.container.query_items(
            query, parameters=params, partition_key=key
        )
        if with_history or (d["type"] != "change" and d.get("status") != "purged")
    ]


async def operation_done(http: httpx.AsyncClient, href: str) -> bool:
    response = await http.get(href)
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["type"] == "delete" and status["status"] in ("running", "succeeded")
    return bool(status["status"] == "succeeded")


async def assert_verify_clean(storage: Clients) -> None:
    report = await verify(storage, repair=False)
    assert report.findings == []


async def test_a_large_delete_answers_202_hides_at_once_and_the_sweep_finishes_it(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, _, _ = await store_study(http, series_count=2, per_series=10)
    sibling, _, _ = await store_study(http, series_count=1, per_series=2)

    response = await http.delete(f"/v2/studies/{study}")
    assert response.status_code == 202, response.text
    href = response.headers["location"]
    assert response.json() == {"id": href.rsplit("/", 1)[1], "href": href}
    assert href.startswith(f"{str(http.base_url).rstrip('/')}/v2/operations/")
    assert study not in href

    # From the moment the DELETE answers, nothing of the study is visible.
    accept = {"Accept": "multipart/related; type=application/dicom; transfer-syntax=*"}
    assert (await http.get(f"/v2/studies/{study}", headers=accept)).status_code == 404
    assert (await http.get(f"/v2/studies/{study}/metadata")).status_code == 404
    assert (await http.get(f"/v2/studies?StudyInstanceUID={study}")).status_code == 204
    assert (await http.get(f"/v2/studies/{study}/series")).status_code == 204
    assert (await http.get(f"/v2/studies/{study}/instances")).status_code == 204

    await eventually(lambda: operation_done(http, href))
    assert await blob_names(storage, StudyRef("Microsoft.Default", study).blob_prefix) == []
    # Only the stores' refresh-due markers may be left, until the sweep's refresh after their lease.
    assert {d["type"] for d in await partition_documents(storage, study)} <= {"refresh"}
    # And the change feed's history: each instance's create and delete, and its tombstone.
    kept = await partition_documents(storage, study, with_history=True)
    assert sorted(d.get("action", d.get("status")) for d in kept if d["type"] != "refresh") == (
        ["create"] * 20 + ["delete"] * 20 + ["purged"] * 20
    )
    assert (await http.delete(f"/v2/studies/{study}")).status_code == 404
    sibling_doc = await study_doc(storage, StudyRef("Microsoft.Default", sibling))
    assert sibling_doc is not None and sibling_doc["numberOfInstances"] == 2
    assert (await http.get(f"/v2/studies/{sibling}/metadata")).status_code == 200
    await assert_verify_clean(storage)


async def test_a_series_deleted_in_the_background_leaves_exact_study_counts(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, (gone, kept), _ = await store_study(http, series_count=2, per_series=3)
    response = await http.delete(f"/v1/studies/{study}/series/{gone}")
    assert response.status_code == 202, response.text

    study_ref = StudyRef("Microsoft.Default", study)
    doc = await study_doc(storage, study_ref)
    assert doc is not None and (doc["numberOfSeries"], doc["numberOfInstances"]) == (1, 3)
    found = await http.get(f"/v1/studies/{study}/series")
    assert [s["0020000E"]["Value"][0] for s in found.json()] == [kept]

    await eventually(lambda: operation_done(http, response.headers["location"]))
    gone_ref = ref_of(study, gone, "1").series
    kept_ref = ref_of(study, kept, "1").series
    assert await blob_names(storage, gone_ref.blob_prefix) == []
    assert len(await blob_names(storage, kept_ref.blob_prefix)) == 6
    assert await series_doc(storage, gone_ref) is None
    await assert_verify_clean(storage)


async def test_unknown_operations_are_404(http: httpx.AsyncClient) -> None:
    for operation in ("nope", "0" * 32 + "-x", "1.2.3"):
        assert (await http.get(f"/v2/operations/{operation}")).status_code == 404


async def test_a_delete_killed_midway_is_carried_out_by_the_sweep(
    http: httpx.AsyncClient, storage: Clients, stack: LocalStack
) -> None:
    study, _, _ = await store_study(http, series_count=4, per_series=50)
    attempt = asyncio.create_task(http.delete(f"/v2/studies/{study}"))

    async def intent_written() -> bool:
        return any(d["type"] == "delete" for d in await partition_documents(storage, study))

    await eventually(intent_written, within=60)
    stack.kill_host()
    with contextlib.suppress(httpx.HTTPError):
        await attempt
    stack.start_host()

    # A store into the same study after the failed DELETE is not undone when it is carried out.
    _, (later_series,), (later,) = await store_study(http, 1, 1, study=study)

    async def only_the_later_store_left() -> bool:
        docs = [d for d in await partition_documents(storage, study) if d["type"] != "refresh"]
        return {d["type"] for d in docs} == {"instance", "series", "study"} and len(docs) == 3

    await eventually(only_the_later_store_left)
    later_ref = ref_of(study, later_series, later[1].SOPInstanceUID)
    study_blobs = await blob_names(storage, later_ref.study.blob_prefix)
    assert len(study_blobs) == 2
    assert all(name.startswith(later_ref.blob_prefix) for name in study_blobs)
    doc = await study_doc(storage, later_ref.study)
    assert doc is not None and doc["numberOfInstances"] == 1
    await assert_verify_clean(storage)


async def test_a_store_killed_midway_is_cleared_by_the_sweep(
    http: httpx.AsyncClient, storage: Clients, stack: LocalStack
) -> None:
    # 6 MB: a file larger than one upload is claimed before its first block is staged.
    data, ds = with_fresh_uids("RG3_UNCI.dcm")
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    body = multipart([data])
    never = asyncio.Event()

    async def past_the_first_block_then_stall() -> AsyncIterator[bytes]:
        yield body[:CLAIMED_AFTER]
        await never.wait()

    upload = asyncio.create_task(post(http, past_the_first_block_then_stall()))

    async def claimed() -> bool:
        docs = await partition_documents(storage, ds.StudyInstanceUID)
        # The series' refresh-due marker may be written beside the claim; it has no status.
        return [d["status"] for d in docs if d["type"] == "instance"] == ["pending"]

    await eventually(claimed, within=60)
    stack.kill_host()
    # The client is stuck in its own body, not reading: end it as a vanished client would end.
    upload.cancel()
    with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
        await upload
    stack.start_host()

    async def cleared() -> bool:
        docs = await partition_documents(storage, ds.StudyInstanceUID)
        return not docs and not await blob_names(storage, ref.blob_prefix)

    await eventually(cleared)
    await assert_verify_clean(storage)
    response = await post(http, body, RELATED)
    assert response.status_code == 200, response.text


async def test_a_store_killed_after_committing_into_two_series_ends_searchable(
    http: httpx.AsyncClient, storage: Clients, stack: LocalStack
) -> None:
    """The host dies after a request committed into series ``s`` and ``t`` and before it
    refreshed their aggregates, while another request stored into ``s`` and finished in between.

    The request commits ``a1`` (``s``) and ``t1`` (``t``), then holds ``a2`` (``s``) back until
    the other request has stored ``b1`` into ``s`` and refreshed it; then ``a2`` is committed, so
    only the dead request knew of it. The kill comes once ``a2`` is committed, while ``a3``
    (``t``) is being received. No client retries: the sweep alone must make all four instances
    searchable with exact counts.
    """
    study, s, t = generate_uid(), generate_uid(), generate_uid()
    a1, t1, a2, b1 = (ct(study, series) for series in (s, t, s, s))
    a3 = ct(study, t)
    never = asyncio.Event()

    async def committed(*instances: tuple[bytes, Any]) -> bool:
        for _, ds in instances:
            ref = ref_of(study, ds.SeriesInstanceUID, ds.SOPInstanceUID)
            doc = await instance_doc(storage, ref)
            if doc is None or doc["status"] != "created":
                return False
        return True

    async def another_request_stores_b1() -> None:
        await eventually(lambda: committed(a1, t1), within=60)
        stored = await post(http, multipart([b1[0]]))
        assert stored.status_code == 200, stored.text

    async def body() -> AsyncIterator[bytes]:
        half = len(a2[0]) // 2
        yield OPENING + a1[0] + b"\r\n" + OPENING + t1[0] + b"\r\n" + OPENING + a2[0][:half]
        await another_request_stores_b1()
        yield a2[0][half:] + b"\r\n" + OPENING + a3[0][: len(a3[0]) // 2]
        await never.wait()

    upload = asyncio.create_task(post(http, body()))
    await eventually(lambda: committed(a2), within=60)
    stack.kill_host()
    upload.cancel()
    with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
        await upload

    # What the dead request committed is not all counted: the other request refreshed ``s``
    # before ``a2`` was committed, and nobody refreshed ``t``.
    study_ref = StudyRef("Microsoft.Default", study)
    before = await study_doc(storage, study_ref)
    assert before is not None and (before["numberOfSeries"], before["numberOfInstances"]) == (1, 2)
    stack.start_host()

    async def nothing_left_to_sweep() -> bool:
        docs = await partition_documents(storage, study)
        return {d["type"] for d in docs} == {"instance", "series", "study"} and all(
            d.get("status") != "pending" for d in docs
        )

    await eventually(nothing_left_to_sweep)
    stored = [ds for _, ds in (a1, t1, a2, b1)]
    await assert_exactly_visible(http, storage, study, stored, [a3[1]])
    await assert_verify_clean(storage)


async def test_the_sweep_numbers_the_change_feed_while_nobody_reads_it(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    _, _, files = await store_study(http, series_count=1, per_series=3)
    uids = {ds.SOPInstanceUID for _, ds in files}

    async def numbered() -> bool:
        # Read straight from the index, which numbers nothing itself.
        latest = await storage.index.latest_change("Microsoft.Default")
        if latest is None:
            return False
        window = await storage.index.changes_after("Microsoft.Default", latest.sequence - 3, 3)
        return {c.ref.sop_instance_uid for c in window} == uids

    await eventually(numbered, within=60)
