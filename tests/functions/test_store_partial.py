"""A store that fails after some of its parts were stored: what it stored is visible, or absent.

Each test breaks a two-part request after the first instance is committed, then checks that the
first instance is visible to every reader with exact counts (retrieve, the study, series and
instance searches) and the second is nowhere, with no claim left and nothing for ``verify``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from azure.storage.blob.aio import BlobClient, BlobLeaseClient
from pydicom.uid import generate_uid

from devhost.stack import LocalStack
from shared.clients import Clients
from shared.services.verify import verify
from shared.uid_index.keys import InstanceRef
from tests.data.builders import multipart, with_fresh_uids
from tests.functions.storage_checks import CLAIMED_AFTER, instance_doc, ref_of, study_doc
from tests.functions.test_store import RELATED, ct, failures, post, stored_uids
from tests.functions.test_store_faults import pending_claims

pytestmark = pytest.mark.integration

PROCESSING_FAILURE = 272
OPENING = b"--DICOMwebBoundary\r\nContent-Type: application/dicom\r\n\r\n"


def value(dataset: dict[str, Any], tag: str) -> Any:
    return dataset[tag]["Value"][0]


async def eventually(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait for something the service does after the client stopped listening."""
    for _ in range(200):
        if await condition():
            return
        await asyncio.sleep(0.05)


async def assert_exactly_visible(
    http: httpx.AsyncClient, storage: Clients, study: str, stored: list[Any], absent: list[Any]
) -> None:
    """``stored`` is what every reader sees of ``study``, with exact counts; ``absent`` is gone."""
    series = {ds.SeriesInstanceUID for ds in stored}
    studies = await http.get("/v2/studies", params={"StudyInstanceUID": study})
    instances = await http.get(f"/v2/studies/{study}/instances")
    found = await http.get(f"/v2/studies/{study}/series")
    if stored:
        assert studies.status_code == 200, studies.text
        (found_study,) = studies.json()
        assert value(found_study, "00201206") == len(series)
        assert value(found_study, "00201208") == len(stored)
        assert found.status_code == 200
        counts = {value(s, "0020000E"): value(s, "00201209") for s in found.json()}
        assert counts == {uid: sum(ds.SeriesInstanceUID == uid for ds in stored) for uid in series}
        assert instances.status_code == 200
        sops = {value(i, "00080018") for i in instances.json()}
        assert sops == {ds.SOPInstanceUID for ds in stored}
    else:
        assert (studies.status_code, instances.status_code, found.status_code) == (204,) * 3
    for ds, status in [(ds, 200) for ds in stored] + [(ds, 404) for ds in absent]:
        path = f"/v2/studies/{study}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
        retrieved = await http.get(f"{path}/metadata", headers={"accept": "application/dicom+json"})
        assert retrieved.status_code == status
    study_ref = ref_of(study, "1", "1").study
    assert await pending_claims(storage, study_ref.key) == []
    report = await verify(storage, repair=False)
    assert [f for f in report.findings if study_ref.key in f.subject] == []


def two_instances() -> tuple[str, tuple[bytes, Any], tuple[bytes, Any]]:
    study = generate_uid()
    return study, ct(study), ct(study)


def a_small_then_a_large_instance() -> tuple[str, tuple[bytes, Any], tuple[bytes, Any]]:
    """A study of two instances, the second claimed while it is received (6 MB)."""
    study = generate_uid()
    second = with_fresh_uids("RG3_UNCI.dcm", study_uid=study)
    assert len(second[0]) > CLAIMED_AFTER
    return study, ct(study), second


def ref_for(study: str, ds: Any) -> InstanceRef:
    return ref_of(study, ds.SeriesInstanceUID, ds.SOPInstanceUID)


async def claimed(storage: Clients, ref: InstanceRef) -> dict[str, Any] | None:
    """The second part's claim, once the service has got that far (the first part committed)."""
    for _ in range(200):
        doc = await instance_doc(storage, ref)
        if doc is not None and doc["status"] == "pending":
            return doc
        await asyncio.sleep(0.05)
    return None


async def test_truncated_body_reports_the_stored_part(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, (first, ds1), (second, ds2) = two_instances()
    whole = multipart([first])
    body = whole[: whole.rindex(b"--DICOMwebBoundary--")] + OPENING + second[:5000]
    response = await post(http, body)
    assert response.status_code == 202, response.text
    assert stored_uids(response) == [ds1.SOPInstanceUID]
    assert failures(response) == [PROCESSING_FAILURE]
    await assert_exactly_visible(http, storage, study, [ds1], [ds2])


async def test_truncated_first_part_is_a_bad_request_storing_nothing(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, (first, ds1), _ = two_instances()
    response = await post(http, OPENING + first[:5000])
    assert response.status_code == 400, response.text
    await assert_exactly_visible(http, storage, study, [], [ds1])


async def test_a_later_part_that_is_not_dicom_reports_the_stored_part(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, (first, ds1), (second, ds2) = two_instances()
    body = multipart(
        [first, second],
        part_headers=["Content-Type: application/dicom", "Content-Type: text/plain"],
    )
    response = await post(http, body)
    assert response.status_code == 202, response.text
    assert stored_uids(response) == [ds1.SOPInstanceUID]
    assert failures(response) == [PROCESSING_FAILURE]
    await assert_exactly_visible(http, storage, study, [ds1], [ds2])


async def paused_body(
    first: bytes, second: bytes, at_second_claim: Callable[[], Awaitable[None]]
) -> AsyncIterator[bytes]:
    """Both parts, holding back the second's tail until ``at_second_claim`` has run."""
    yield OPENING + first + b"\r\n" + OPENING + second[:CLAIMED_AFTER]
    await at_second_claim()
    yield second[CLAIMED_AFTER:] + b"\r\n--DICOMwebBoundary--\r\n"


async def test_a_part_that_raises_leaves_the_stored_part_visible(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    """Storage refuses the second part's sidecar in a way the service does not expect (a lease
    held by someone else), so that part's store raises and the request answers 500."""
    study, (first, ds1), (second, ds2) = a_small_then_a_large_instance()
    ref = ref_for(study, ds2)
    leases: list[tuple[BlobClient, BlobLeaseClient]] = []

    async def hold_the_sidecar() -> None:
        claim = await claimed(storage, ref)
        assert claim is not None
        blob = storage.blobs.container.get_blob_client(ref.sidecar_blob(claim["version"]))
        await blob.upload_blob(b"{}", overwrite=True)
        leases.append((blob, await blob.acquire_lease(lease_duration=-1)))

    try:
        response = await post(http, paused_body(first, second, hold_the_sidecar))
    finally:
        for blob, lease in leases:
            await lease.release()
            await blob.delete_blob()
    assert leases
    assert response.status_code == 500, response.text
    await assert_exactly_visible(http, storage, study, [ds1], [ds2])
    # The retry reports the stored part as already there and stores the other.
    retried = await post(http, multipart([first, second]))
    assert retried.status_code == 202, retried.text
    assert failures(retried) == [45070]
    await assert_exactly_visible(http, storage, study, [ds1, ds2], [])


async def test_azurite_stopped_mid_request_leaves_the_stored_part_visible(
    stack: LocalStack, http: httpx.AsyncClient, storage: Clients
) -> None:
    study, (first, ds1), (second, ds2) = a_small_then_a_large_instance()

    async def stop_blob_storage() -> None:
        assert await claimed(storage, ref_for(study, ds2)) is not None
        stack.stop_azurite()

    try:
        response = await post(http, paused_body(first, second, stop_blob_storage))
    finally:
        stack.start_azurite()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    await assert_exactly_visible(http, storage, study, [ds1], [ds2])
    retried = await post(http, multipart([first, second]))
    assert retried.status_code == 202, retried.text
    assert failures(retried) == [45070]
    await assert_exactly_visible(http, storage, study, [ds1, ds2], [])


async def test_client_gone_mid_request_leaves_the_stored_part_visible(
    base_url: str, http: httpx.AsyncClient, storage: Clients
) -> None:
    """Nobody hears the answer, but the index is consistent once the service sees the client go."""
    study, (first, ds1), (second, ds2) = a_small_then_a_large_instance()
    body = multipart([first, second])
    host, port = base_url.removeprefix("http://").split(":")
    head = (
        f"POST /v2/studies HTTP/1.1\r\nHost: {host}\r\nContent-Type: {RELATED}\r\n"
        f"Accept: application/dicom+json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    ref = ref_for(study, ds2)
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(head + body[: body.index(second) + CLAIMED_AFTER])
        assert await claimed(storage, ref) is not None

    async def settled() -> bool:
        return await instance_doc(storage, ref) is None and (
            await study_doc(storage, ref.study) is not None
        )

    await eventually(settled)
    await assert_exactly_visible(http, storage, study, [ds1], [ds2])
