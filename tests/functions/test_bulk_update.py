"""Bulk update (Azure's ``POST /studies/$bulkUpdate``) through the local host: two studies
changed while another client searches, found under exactly one of the old and new values at
every moment; the files changed only where asked; the original retrieved; the change feed's
``update`` entries; a retried request that changes nothing more; refused requests; and a job a
dead host left half done, and one whose host was killed while it worked, finished by the sweep
of a stack whose updates do nothing inline."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid

from devhost.stack import LocalStack
from shared.clients import Clients
from shared.config import DEFAULT_PARTITION
from shared.dicom.change_dataset import parse_change_dataset
from shared.dicom.dicom_json import to_dicom_json
from shared.services import jobs
from shared.services.bulk_update import UpdateJob, job_blob, update_instance
from shared.services.retrieve_scope import Scope, visible_instances
from shared.services.verify import verify
from tests.conftest import EVERY_SECOND, client_and_storage, own_stack
from tests.data.builders import fresh_tutorial_study, multipart, to_bytes, with_fresh_uids
from tests.functions.retrieve_checks import parts_of, store_all
from tests.functions.test_change_feed import entries_after, latest_sequence

pytestmark = pytest.mark.integration

INSTANCE_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
CHANGED = ("00100010", "00100020", "00080005")
"""Patient's Name and Patient ID, and the character set, which an update may set."""


def _change(patient_id: str, name: str = "Fixed^Name") -> dict[str, Any]:
    return {
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": name}]},
        "00100020": {"vr": "LO", "Value": [patient_id]},
    }


async def _store_study(http: httpx.AsyncClient, patient_id: str) -> tuple[str, dict[str, bytes]]:
    """A fresh study of the tutorial's shape under ``patient_id``; its files by SOP UID."""
    datasets = fresh_tutorial_study(16)
    for ds in datasets:
        ds.PatientID = patient_id
    files = {str(ds.SOPInstanceUID): to_bytes(ds) for ds in datasets}
    await store_all(http, list(files.values()))
    return str(datasets[0].StudyInstanceUID), files


async def _finished(http: httpx.AsyncClient, href: str, within: float = 120) -> dict[str, Any]:
    give_up = time.monotonic() + within
    while True:
        response = await http.get(href)
        assert response.status_code in (200, 202), response.text
        status: dict[str, Any] = response.json()
        if status["status"] != "running":
            assert response.status_code == 200
            return status
        assert response.status_code == 202
        assert time.monotonic() < give_up, "the update did not finish in time"
        await asyncio.sleep(0.2)


async def _update(http: httpx.AsyncClient, studies: list[str], change: dict[str, Any]) -> str:
    body = {"studyInstanceUids": studies, "changeDataset": change}
    response = await http.post("/v2/studies/$bulkUpdate", json=body)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == response.json()["href"]
    return str(response.json()["href"])


async def _studies_of(http: httpx.AsyncClient, patient_id: str) -> set[str]:
    response = await http.get("/v2/studies", params={"PatientID": patient_id})
    assert response.status_code in (200, 204), response.text
    rows = response.json() if response.status_code == 200 else []
    return {row["0020000D"]["Value"][0] for row in rows}


async def _instance(http: httpx.AsyncClient, study: str, sop: str, **headers: str) -> bytes:
    search = await http.get(f"/v2/studies/{study}/instances", params={"SOPInstanceUID": sop})
    series = search.json()[0]["0020000E"]["Value"][0]
    path = f"/v2/studies/{study}/series/{series}/instances/{sop}"
    response = await http.get(path, headers={"Accept": INSTANCE_ACCEPT, **headers})
    assert response.status_code == 200, response.text
    ((_, body),) = await parts_of(response)
    return body


async def _updates(http: httpx.AsyncClient, after: int, studies: set[str]) -> list[dict[str, Any]]:
    """The studies' ``update`` entries after sequence ``after``. The stores before it may have
    committed entries numbered after it (the background sweep numbers rounds of its own): any
    other entry must be one of their ``create`` entries."""
    entries = [e for e in await entries_after(http, after) if e["StudyInstanceUid"] in studies]
    assert {e["Action"] for e in entries} <= {"create", "update"}
    return [e for e in entries if e["Action"] == "update"]


def _differences(before: Dataset, after: Dataset) -> set[str]:
    """The tags whose DICOM JSON differ between two data sets, pixel data included."""
    one, two = to_dicom_json(before, lambda p: p), to_dicom_json(after, lambda p: p)
    differ = {tag for tag in one.keys() | two.keys() if one.get(tag) != two.get(tag)}
    if before.PixelData != after.PixelData:
        differ.add("7FE00010")
    return differ


async def test_two_studies_are_found_under_one_value_at_every_moment_while_updated(
    http: httpx.AsyncClient,
) -> None:
    old, new = f"OLD-{uuid.uuid4().hex[:8]}", f"NEW-{uuid.uuid4().hex[:8]}"
    first, first_files = await _store_study(http, old)
    second, second_files = await _store_study(http, old)
    studies = {first, second}
    sightings: list[tuple[set[str], set[str]]] = []
    done = asyncio.Event()

    async def search_meanwhile() -> None:
        # Old first, then new: the change goes one way only, so a study between two values
        # would be missed by both searches of a round.
        while not done.is_set():
            under_old = await _studies_of(http, old) & studies
            under_new = await _studies_of(http, new) & studies
            sightings.append((under_old, under_new))

    searcher = asyncio.create_task(search_meanwhile())
    try:
        href = await _update(http, [first, second], _change(new))
        status = await _finished(http, href)
    finally:
        done.set()
        await searcher
    assert status["type"] == "update"
    assert status["results"] == {"studyUpdated": 2, "studyFailed": 0, "instanceUpdated": 6}
    assert sightings
    for under_old, under_new in sightings:
        assert under_old | under_new == studies
    assert await _studies_of(http, new) == studies
    assert await _studies_of(http, old) & studies == set()
    found = await http.get("/v2/instances", params={"PatientID": new})
    assert {row["00080018"]["Value"][0] for row in found.json()} == {*first_files, *second_files}

    # Each file changed where asked and nowhere else; the original is kept, byte for byte.
    for sop, original in first_files.items():
        updated = dcmread(io.BytesIO(await _instance(http, first, sop)))
        assert str(updated.PatientID) == new
        assert str(updated.PatientName) == "Fixed^Name"
        assert _differences(dcmread(io.BytesIO(original)), updated) <= set(CHANGED)
        asked = {"msdicom-request-original": "true"}
        assert await _instance(http, first, sop, **asked) == original


async def test_metadata_the_feed_and_a_retry_agree_with_the_update(
    http: httpx.AsyncClient,
) -> None:
    old, new = f"OLD-{uuid.uuid4().hex[:8]}", f"NEW-{uuid.uuid4().hex[:8]}"
    study, files = await _store_study(http, old)
    before = await latest_sequence(http)
    await _finished(http, await _update(http, [study], _change(new)))

    metadata = await http.get(f"/v2/studies/{study}/metadata")
    assert {m["00100020"]["Value"][0] for m in metadata.json()} == {new}
    original = await http.get(
        f"/v2/studies/{study}/metadata", headers={"msdicom-request-original": "true"}
    )
    assert {m["00100020"]["Value"][0] for m in original.json()} == {old}
    assert original.headers["etag"] != metadata.headers["etag"]

    entries = await _updates(http, before, {study})
    assert sorted(e["SopInstanceUid"] for e in entries) == sorted(files)
    assert {e["State"] for e in entries} == {"current"}

    # The same request again finds every instance changed already: nothing more is written.
    again = await _finished(http, await _update(http, [study], _change(new)))
    assert again["results"] == {"studyUpdated": 1, "studyFailed": 0, "instanceUpdated": 0}
    assert len(await _updates(http, before, {study})) == len(files)


async def test_storing_an_updated_instance_again_is_a_conflict_and_a_put_replaces_both_copies(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    old, new = f"OLD-{uuid.uuid4().hex[:8]}", f"NEW-{uuid.uuid4().hex[:8]}"
    study, files = await _store_study(http, old)
    await _finished(http, await _update(http, [study], _change(new)))
    sop, original = next(iter(files.items()))
    content_type = 'multipart/related; type="application/dicom"; boundary=DICOMwebBoundary'
    again = await http.post(
        "/v2/studies", content=multipart([original]), headers={"Content-Type": content_type}
    )
    assert again.status_code == 409, again.text
    replaced = await http.put(
        "/v2/studies", content=multipart([original]), headers={"Content-Type": content_type}
    )
    assert replaced.status_code == 200, replaced.text
    # The copy sent is now the instance as stored and as first stored: the update is gone.
    assert await _instance(http, study, sop) == original
    assert await _instance(http, study, sop, **{"msdicom-request-original": "true"}) == original
    (instance,) = [
        i
        for i in await visible_instances(storage.index, Scope(DEFAULT_PARTITION, study))
        if i.ref.sop_instance_uid == sop
    ]
    names = [n async for n in storage.blobs.names(instance.ref.blob_prefix)]
    assert {n.rsplit("/", 1)[1].split(".")[0] for n in names} == {instance.version}


async def test_a_deleted_study_leaves_no_copy_of_either_version(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, _ = await _store_study(http, f"OLD-{uuid.uuid4().hex[:8]}")
    await _finished(http, await _update(http, [study], _change("NEW")))
    instances = await visible_instances(storage.index, Scope(DEFAULT_PARTITION, study))
    assert all(i.original is not None for i in instances)
    prefix = instances[0].ref.study.blob_prefix
    assert len([n async for n in storage.blobs.names(prefix)]) == 2 * 2 * len(instances)
    response = await http.delete(f"/v2/studies/{study}")
    assert response.status_code in (200, 202, 204), response.text
    assert [n async for n in storage.blobs.names(prefix)] == []


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (
            {"studyInstanceUids": ["1.2.3"], "changeDataset": {"0020000D": {"vr": "UI"}}},
            "0020,000D",
        ),
        ({"studyInstanceUids": ["1.2.3"], "changeDataset": {"00080060": {"vr": "CS"}}}, "Modality"),
        ({"studyInstanceUids": [], "changeDataset": _change("X")}, "studyInstanceUids"),
        ({"studyInstanceUids": ["1.2"] * 51, "changeDataset": _change("X")}, "at most 50"),
        ({"studyInstanceUids": ["x"], "changeDataset": _change("X")}, "not a valid UID"),
        ({"studyInstanceUids": ["1.2.3"], "changeDataset": {}}, "changeDataset"),
        (
            {"studyInstanceUids": ["1.2.3"], "changeDataset": {"00100020": {"vr": "LO"}}},
            "cannot empty",
        ),
        (
            {
                "studyInstanceUids": ["1.2.3"],
                "changeDataset": {"00100030": {"vr": "DA", "Value": ["31/12/1990"]}},
            },
            "PatientBirthDate is not a valid DA",
        ),
    ],
)
async def test_a_request_that_cannot_be_carried_out_is_400_naming_the_problem(
    http: httpx.AsyncClient, body: dict[str, Any], named: str
) -> None:
    response = await http.post("/v2/studies/$bulkUpdate", json=body)
    assert response.status_code == 400
    assert named in response.text
    assert "31/12/1990" not in response.text


async def test_a_study_not_stored_is_a_failed_study_of_the_operation(
    http: httpx.AsyncClient,
) -> None:
    status = await _finished(http, await _update(http, ["1.2.3.4.5.6.7.8"], _change("X")))
    assert status["status"] == "completed"
    assert status["results"]["studyFailed"] == 1
    assert "1.2.3.4.5.6.7.8" in status["results"]["errors"][0]


@pytest.fixture(scope="module")
def background_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack whose updates do nothing inline and whose sweep runs every second."""
    yield from own_stack(
        tmp_path_factory,
        "update",
        DICOMWEB_UPDATE_INLINE_SECONDS="0",
        DICOMWEB_SWEEP_SCHEDULE=EVERY_SECOND,
    )


@pytest.fixture
async def background(
    background_stack: LocalStack,
) -> AsyncIterator[tuple[httpx.AsyncClient, Clients]]:
    async with client_and_storage(background_stack) as pair:
        yield pair


async def test_a_job_a_dead_host_left_mid_study_is_finished_by_the_sweep(
    background: tuple[httpx.AsyncClient, Clients], background_stack: LocalStack
) -> None:
    http, storage = background
    old, new = f"OLD-{uuid.uuid4().hex[:8]}", f"NEW-{uuid.uuid4().hex[:8]}"
    first, _ = await _store_study(http, old)
    second, _ = await _store_study(http, old)
    before = await latest_sequence(http)
    background_stack.kill_host()
    # What a host leaves when it dies in the first study: one of its instances updated, the
    # cursor still at that study, the lease run out.
    operation = uuid.uuid4().hex
    change = parse_change_dataset(_change(new))
    (done, *_) = await visible_instances(storage.index, Scope(DEFAULT_PARTITION, first))
    assert await update_instance(storage, done, change)
    now = "2026-01-01T00:00:00+00:00"
    job = UpdateJob(operation, [first, second], change.json, now, now)
    await storage.blobs.put_if(job_blob(operation), job.to_bytes(), "application/json", None)
    background_stack.start_host()

    status = await _finished(http, f"/v2/operations/{operation}")
    assert status["results"] == {"studyUpdated": 2, "studyFailed": 0, "instanceUpdated": 5}
    assert await _studies_of(http, new) == {first, second}
    entries = await _updates(http, before, {first, second})
    assert len({e["SopInstanceUid"] for e in entries}) == len(entries) == 6
    # Both copies of every instance are referenced, and the feed has an entry for each.
    report = await verify(storage, repair=False)
    assert report.findings == []


async def test_without_inline_time_the_sweep_does_the_whole_update(
    background: tuple[httpx.AsyncClient, Clients],
) -> None:
    http, _ = background
    study, _ = await _store_study(http, f"OLD-{uuid.uuid4().hex[:8]}")
    new = f"NEW-{uuid.uuid4().hex[:8]}"
    status = await _finished(http, await _update(http, [study], _change(new)))
    assert status["results"]["instanceUpdated"] == 3
    assert await _studies_of(http, new) == {study}


async def _updated_count(http: httpx.AsyncClient, study: str, patient_id: str) -> int:
    response = await http.get(
        f"/v2/studies/{study}/instances", params={"PatientID": patient_id, "limit": "1000"}
    )
    return len(response.json()) if response.status_code == 200 else 0


async def test_a_host_killed_while_it_updates_leaves_a_job_the_sweep_finishes(
    background: tuple[httpx.AsyncClient, Clients], background_stack: LocalStack
) -> None:
    http, storage = background
    old, new = f"OLD-{uuid.uuid4().hex[:8]}", f"NEW-{uuid.uuid4().hex[:8]}"
    study = generate_uid()
    files = [
        with_fresh_uids("CT_small.dcm", study_uid=study, patient_id=old)[0] for _ in range(120)
    ]
    for start in range(0, len(files), 40):
        await store_all(http, files[start : start + 40])
    before = await latest_sequence(http)
    href = await _update(http, [study], _change(new))
    operation = href.rsplit("/", 1)[1]
    # The sweep works on the job; the host dies once some instances have their new copy.
    done_at_kill = 0
    while done_at_kill < 5:
        await asyncio.sleep(0.02)
        done_at_kill = await _updated_count(http, study, new)
    background_stack.kill_host()
    assert done_at_kill < len(files)
    # Time passes: the dead host's lease on the job runs out.
    found = await storage.blobs.get_tagged(job_blob(operation))
    assert found is not None
    assert await jobs.save(storage, UpdateJob.from_bytes(found[0]), found[1], 0.0) is not None
    background_stack.start_host()

    status = await _finished(http, href)
    assert status["status"] == "completed"
    assert await _updated_count(http, study, new) == len(files)
    assert await _studies_of(http, new) == {study}
    entries = await _updates(http, before, {study})
    # One update per instance: what the dead host committed is not changed again.
    assert sorted(e["SopInstanceUid"] for e in entries) == sorted(
        str(dcmread(io.BytesIO(f)).SOPInstanceUID) for f in files
    )
    report = await verify(storage, repair=False)
    assert [f for f in report.findings if f.kind != "orphan"] == []
