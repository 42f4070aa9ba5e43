"""verify and verify --repair against the emulators, with each kind of damage made by hand."""

from __future__ import annotations

import dataclasses
import os
import time

import httpx
import pytest
from pydicom.uid import generate_uid

from shared.clients import Clients
from shared.config import DEFAULT_PARTITION
from shared.services.rebuild import committed_versions, rebuild_index
from shared.services.verify import check_feed, verify
from shared.uid_index.changes import Action, History, State
from shared.uid_index.documents import change_id, claim_document
from shared.uid_index.index import ChangeRecord, InstanceEntry
from shared.uid_index.keys import InstanceRef
from shared.uid_index.lifecycle import Lifecycle
from shared.uid_index.sidecar import Sidecar
from tests.data.builders import multipart, with_fresh_uids
from tests.functions.storage_checks import instance_doc, ref_of, stored_file, study_doc
from tests.functions.test_store import post

pytestmark = pytest.mark.integration


def old_version(minutes: int = 10) -> str:
    return f"{time.time_ns() // 1000 - minutes * 60_000_000:016x}{os.urandom(4).hex()}"


async def test_verify_finds_and_repairs_each_kind(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study = generate_uid()
    files = [with_fresh_uids("CT_small.dcm", study_uid=study) for _ in range(4)]
    assert (await post(http, multipart([d for d, _ in files]))).status_code == 200
    refs = [ref_of(study, ds.SeriesInstanceUID, ds.SOPInstanceUID) for _, ds in files]
    docs = [await instance_doc(storage, r) for r in refs]
    assert all(docs)

    # Ghost: the current file of instance 0 is gone.
    await storage.blobs.delete([refs[0].file_blob(docs[0]["version"])])  # type: ignore[index]
    # Superseded copy of instance 1 nobody points to.
    stale = old_version()
    await storage.blobs.put(refs[1].file_blob(stale), b"old copy", "application/dicom")
    # Instance 2 stored but never committed: its files under an old version, no document.
    moved = old_version()
    current = docs[2]["version"]  # type: ignore[index]
    data = await storage.blobs.get(refs[2].file_blob(current))
    sidecar = await storage.blobs.get(refs[2].sidecar_blob(current))
    assert data is not None and sidecar is not None
    await storage.blobs.put(refs[2].file_blob(moved), data, "application/dicom")
    rewritten = dataclasses.replace(Sidecar.from_bytes(sidecar), version=moved)
    await storage.blobs.put(refs[2].sidecar_blob(moved), rewritten.to_bytes(), "application/json")
    await storage.blobs.delete([refs[2].file_blob(current), refs[2].sidecar_blob(current)])
    await storage.index.container.delete_item(refs[2].doc_id, partition_key=refs[2].study.key)
    # A store that died holding a claim.
    dead = ref_of(study, files[3][1].SeriesInstanceUID, generate_uid())
    await storage.index.container.create_item(
        claim_document(dead, old_version(), lease_until=time.time() - 1, history=History())
    )
    # A study count that is wrong.
    sdoc = await study_doc(storage, refs[0].study)
    assert sdoc is not None
    sdoc["numberOfInstances"] = 99
    await storage.index.container.replace_item(sdoc["id"], sdoc)

    report = await verify(storage, repair=False)
    mine = {(f.kind, f.subject) for f in report.findings}
    assert ("ghost", refs[0].doc_id) in mine
    assert ("orphan", f"{refs[1].blob_prefix}{stale}") in mine
    assert ("orphan", f"{refs[2].blob_prefix}{moved}") in mine
    # The host's sweep (every minute locally) purges an expired claim too, and may get there
    # first; a claim still there must be reported.
    assert ("stale-claim", dead.doc_id) in mine or await instance_doc(storage, dead) is None
    assert ("aggregate", refs[0].study.doc_id) in mine

    repaired = await verify(storage, repair=True)
    assert repaired.repaired >= 4  # the aggregate is fixed by refreshing what was repaired
    again = await verify(storage, repair=False)
    assert not [f for f in again.findings if study_key_of(f.subject) == refs[0].study.key]

    # Instance 0 had no complete copy left: it is gone from the index, its history kept.
    assert await storage.index.visible(refs[0]) == []
    assert await instance_doc(storage, refs[0]) is None
    # Instance 1 untouched, its stray copy deleted.
    assert await stored_file(storage, refs[1]) == files[1][0]
    assert await storage.blobs.get(refs[1].file_blob(stale)) is None
    # Instance 2 adopted from storage under its surviving version.
    assert await stored_file(storage, refs[2]) == files[2][0]
    assert await instance_doc(storage, dead) is None
    sdoc = await study_doc(storage, refs[0].study)
    assert sdoc is not None and sdoc["numberOfInstances"] == 3


def study_key_of(subject: str) -> str:
    """The study digest a finding's subject belongs to (a blob path or a document id)."""
    if "/" in subject:
        return subject.split("/")[1]
    return subject.partition("-")[2]


async def test_verify_repairs_a_wrong_series_count(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, series = generate_uid(), generate_uid()
    files = [with_fresh_uids("MR_small.dcm", study_uid=study, series_uid=series) for _ in range(2)]
    assert (await post(http, multipart([d for d, _ in files]))).status_code == 200
    ref = ref_of(study, series, "1")
    doc = await storage.index.container.read_item(ref.series.doc_id, partition_key=ref.study.key)
    doc["numberOfInstances"] = 7
    await storage.index.container.replace_item(doc["id"], doc)

    report = await verify(storage, repair=True)
    assert ("aggregate", ref.series.doc_id) in {(f.kind, f.subject) for f in report.findings}
    doc = await storage.index.container.read_item(ref.series.doc_id, partition_key=ref.study.key)
    assert doc["numberOfInstances"] == 2
    assert not [
        f for f in (await verify(storage, repair=False)).findings if ref.study.key in f.subject
    ]


async def test_thumbnails_are_renditions_not_copies(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study = generate_uid()
    files = [with_fresh_uids("CT_small.dcm", study_uid=study) for _ in range(2)]
    assert (await post(http, multipart([d for d, _ in files]))).status_code == 200
    refs = [ref_of(study, ds.SeriesInstanceUID, ds.SOPInstanceUID) for _, ds in files]
    versions = [(await instance_doc(storage, r))["version"] for r in refs]  # type: ignore[index]
    # Instance 0 has its thumbnail cached; instance 1 has none, which is no damage.
    await storage.blobs.put(refs[0].thumbnail_blob(versions[0]), b"jpeg", "image/jpeg")
    # A thumbnail of a copy that is gone (the instance was replaced or deleted meanwhile).
    gone = old_version()
    await storage.blobs.put(refs[0].thumbnail_blob(gone), b"jpeg", "image/jpeg")

    mine = [
        f
        for f in (await verify(storage, repair=False)).findings
        if study_key_of(f.subject) == refs[0].study.key
    ]
    assert [(f.kind, f.subject, f.detail) for f in mine] == [
        ("orphan", f"{refs[0].blob_prefix}{gone}", "unreferenced")
    ]
    # Rebuild sees each current copy, whole with or without a thumbnail, and not the stray one.
    found = await committed_versions(storage, refs[0].study.blob_prefix)
    assert found == {refs[0].blob_prefix: versions[0], refs[1].blob_prefix: versions[1]}

    await verify(storage, repair=True)
    assert await storage.blobs.get(refs[0].thumbnail_blob(gone)) is None
    assert await storage.blobs.get(refs[0].thumbnail_blob(versions[0])) == b"jpeg"
    again = await verify(storage, repair=False)
    assert not [f for f in again.findings if study_key_of(f.subject) == refs[0].study.key]


async def test_verify_writes_the_entry_of_an_instance_the_feed_lacks(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    """As an index written before the change feed has it: no history, no entry."""
    data, ds = with_fresh_uids("CT_small.dcm")
    assert (await post(http, multipart([data]))).status_code == 200
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    doc = await instance_doc(storage, ref)
    assert doc is not None
    for field_name in ("changes", "changedAt"):
        doc.pop(field_name)
    await storage.index.container.replace_item(doc["id"], doc)
    await storage.index.container.delete_item(change_id(ref.key, 1), partition_key=ref.study.key)

    found = await verify(storage, repair=True)
    assert ("feed", ref.doc_id) in {(f.kind, f.subject) for f in found.findings}
    assert not [f for f in (await verify(storage, repair=False)).findings if f.kind == "feed"]
    await storage.index.number_changes(DEFAULT_PARTITION)
    latest = await storage.index.latest_change(DEFAULT_PARTITION)
    assert latest is not None and latest.ref == ref and latest.state is State.CURRENT


def test_feed_findings_name_what_disagrees() -> None:
    ref = ref_of("1.2", "1.2.3", "1.2.3.4")
    entry = InstanceEntry(ref, Lifecycle.CREATED, "v2", 0.0, "e", history=History(2, 5.0))
    changes = [
        ChangeRecord("change-a-1", "p", ref.key, 1, Action.CREATE, "v1", 9),
        ChangeRecord("change-a-2", "p", ref.key, 2, Action.CREATE, "v2", 4),
        ChangeRecord("change-a-3", "p", ref.key, 3, Action.DELETE, "v2", None),
        ChangeRecord("change-b-1", "p", "b", 1, Action.CREATE, "v9", 4),
        ChangeRecord("change-c-1", "q", "c", 1, Action.CREATE, "v9", 4),
    ]
    unfed, findings = check_feed([entry], changes)
    assert unfed == [entry]
    assert [(f.subject, f.detail) for f in findings] == [
        (ref.doc_id, "no entry for the current copy"),
        ("change-a-3", "entry of a change the index does not count"),
        ("change-a-1", "numbered out of commit order"),
        ("change-b-1", "sequence given twice"),
    ]
    assert check_feed([entry], changes[1:2]) == ([], [])


async def test_verify_and_rebuild_one_data_partition(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    """Damage in one data partition is found when that partition is checked, and only then."""
    data, ds = with_fresh_uids("CT_small.dcm")
    tag = generate_uid()[-8:]
    damaged, intact = f"verify-{tag}-a", f"verify-{tag}-b"
    for partition in (damaged, intact):
        path = f"/v2/partitions/{partition}/studies"
        assert (await post(http, data, "application/dicom", path)).status_code == 200
    uids = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    [entry] = await storage.index.visible(InstanceRef.of(damaged, *uids))
    await storage.blobs.delete([entry.file_blob])

    assert (await verify(storage, repair=False, partition=intact)).findings == []
    found = await verify(storage, repair=False, partition=damaged)
    assert [f.kind for f in found.findings] == ["ghost"] and found.instances == 1
    rebuilt = await rebuild_index(storage, partition=intact)
    assert (rebuilt.instances, rebuilt.skipped) == (1, 0)
    assert (await verify(storage, repair=True, partition=damaged)).repaired == 1
    assert (await verify(storage, repair=False, partition=damaged)).findings == []
