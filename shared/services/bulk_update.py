"""Bulk update (the Azure DICOM service's ``POST /studies/$bulkUpdate``): patient and study
attributes changed across whole studies without sending them again.

A request names up to 50 studies and a change data set (``shared.dicom.change_dataset``). It is
recorded as a job (``updates/{operation id}.json``, see ``jobs``) and carried out a study at a
time, a batch of instances at a time: every visible instance of the study gets a new copy, its
file's head changed and encoded again and the rest of the file copied byte for byte from storage
(``shared.dicom.rewrite``),
stored through the store protocol as a bulk update's copy (``Index.claim_update``). So the new
copy is made visible as a store's is: file and sidecar written, then the commit, which records
an ``update`` in the change feed; the copy the instance was first stored as is kept for
``msdicom-request-original`` and deleted with the instance, and an intermediate copy (of an
earlier update) is deleted.

Search sees each instance under its new values once its commit lands; the series and study
aggregates are refreshed after every few instances, each in one write, so a study is found
under exactly one of the old or the new values at any moment, and under the new ones once its
last batch is refreshed.

Retried and resumed work converges: an instance whose stored metadata already holds the change
is skipped, so a retried request, or a worker taking over a job whose host died mid-study (the
cursor still at that study), redoes only the instances not yet done, and records no change twice.
A copy an instance no longer has (a store or another update replaced it meanwhile) is read again
and updated from its new copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from pydicom.uid import ExplicitVRBigEndian

from shared.clients import Clients
from shared.config import DEFAULT_PARTITION
from shared.dicom.change_dataset import ChangeDataset, InvalidChange, parse_change_dataset
from shared.dicom.rewrite import WholeFileNeeded, changed_head, pixel_data_start
from shared.dicom.validation import is_valid_uid
from shared.errors import BadRequest, Conflict, NotFound
from shared.services import jobs
from shared.services.jobs import COMPLETED, FAILED, RUNNING, now_text
from shared.services.retrieve_scope import Scope, read_sidecar, visible_instances
from shared.services.store import StoreOptions, StoreRequest, store_instance
from shared.storage.errors import StorageUnavailable
from shared.uid_index.index import BEING_CREATED, StoredInstance
from shared.uid_index.sidecar import Sidecar
from shared.uid_index.tag_index import TagRegistry

JOBS = "updates/"
MAX_STUDIES = 50
"""Studies one request may update, as in Azure."""
LEASE_MARGIN_SECONDS = 120.0
"""How long one batch of instances may outlast the worker's deadline, which the lease covers:
the job is written, and its lease renewed, after every batch."""
INSTANCES_IN_FLIGHT = 4
BATCH = 16
"""Instances updated between two refreshes of their series and study aggregates."""
ATTEMPTS_PER_INSTANCE = 5
"""Copies an instance may be updated from before it counts as failed (each replaced meanwhile)."""
MAX_TAKEOVERS = 12
"""Sweeps that may take a job over without it moving before it fails."""
WHOLE_FILE_LIMIT = 256 * 1024 * 1024
"""The largest file without addressable pixel data (its whole file is its head) updated."""


@dataclass(frozen=True)
class UpdateRequest:
    study_uids: list[str]
    change: ChangeDataset
    partition: str = DEFAULT_PARTITION
    htj2k_copy: bool = False
    """Whether each new copy gets an HTJ2K copy of its pixel data, as stores do (``store``)."""


@dataclass
class UpdateJob:
    id: str
    study_uids: list[str]
    change: dict[str, Any]
    """The change data set as the request gave it (DICOM JSON)."""
    created: str
    updated: str
    partition: str = DEFAULT_PARTITION
    status: str = RUNNING
    cursor: int = 0
    studies_updated: int = 0
    studies_failed: int = 0
    instances_updated: int = 0
    errors: list[str] = field(default_factory=list)
    study_errors: list[str] = field(default_factory=list)
    """Why instances of the study at the cursor failed, so far."""
    lease_until: float = 0.0
    attempts: int = 0
    htj2k_copy: bool = False

    @property
    def blob(self) -> str:
        return job_blob(self.id)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> UpdateJob:
        return cls(**json.loads(data))


def job_blob(operation_id: str) -> str:
    return f"{JOBS}{operation_id}.json"


class UpdateFailed(Exception):
    """An instance could not be updated; the message names why, never a value."""


def parse_update_request(
    body: Any, partition: str = DEFAULT_PARTITION, *, htj2k_copy: bool = False
) -> UpdateRequest:
    """The request as Azure documents it; a 400 naming the first thing that is not."""
    if not isinstance(body, dict):
        raise BadRequest("the bulk update request is a JSON object with studyInstanceUids")
    uids, change = body.get("studyInstanceUids"), body.get("changeDataset")
    if not isinstance(uids, list) or not uids:
        raise BadRequest("studyInstanceUids must be a non-empty list of Study Instance UIDs")
    if len(uids) > MAX_STUDIES:
        raise BadRequest(f"studyInstanceUids holds at most {MAX_STUDIES} studies")
    for position, uid in enumerate(uids, 1):
        if not isinstance(uid, str) or not is_valid_uid(uid):
            raise BadRequest(f"studyInstanceUids item {position} is not a valid UID")
    try:
        parsed = parse_change_dataset(change)
    except InvalidChange as exc:
        raise BadRequest(str(exc)) from None
    return UpdateRequest(list(dict.fromkeys(uids)), parsed, partition, htj2k_copy)


async def start_update(clients: Clients, request: UpdateRequest, *, inline_seconds: float) -> str:
    """Record the job and work on it for ``inline_seconds``; its operation id. A study already
    being updated by a running job is a 409, as only one update at a time may change a study."""
    await _refuse_overlap(clients, request)
    now = now_text()
    job = UpdateJob(jobs.new_id(), request.study_uids, request.change.json, now, now)
    job.partition, job.htj2k_copy = request.partition, request.htj2k_copy
    if inline_seconds > 0:  # held while the request works; otherwise the sweep's at once
        job.lease_until = time.time() + inline_seconds + LEASE_MARGIN_SECONDS
    etag = await jobs.create(clients, job)
    if etag is not None and inline_seconds > 0:
        with contextlib.suppress(StorageUnavailable):
            await _work(clients, job, etag, time.monotonic() + inline_seconds)
    return job.id


async def _refuse_overlap(clients: Clients, request: UpdateRequest) -> None:
    wanted = {(request.partition, uid) for uid in request.study_uids}
    async for name, listed in clients.blobs.listed(JOBS):
        if listed.get("status") not in (None, RUNNING):
            continue
        job = await jobs.read(clients, name, UpdateJob.from_bytes)
        if job is None or job.status != RUNNING:
            continue
        if wanted & {(job.partition, uid) for uid in job.study_uids[job.cursor :]}:
            raise Conflict(f"a bulk update of a study of this request is running ({job.id})")


async def read_job(clients: Clients, operation_id: str) -> UpdateJob | None:
    return await jobs.read(clients, job_blob(operation_id), UpdateJob.from_bytes)


def _give_up(job: UpdateJob) -> None:
    job.status = FAILED
    job.errors.append("the update could not go on: storage did not answer")


async def resume_updates(clients: Clients, *, seconds: float) -> int:
    """Take over every running job whose lease has run out and work on it; jobs finished."""

    async def work(job: UpdateJob, etag: str, deadline: float) -> bool:
        return await _work(clients, job, etag, deadline)

    return await jobs.take_over_due(
        clients,
        JOBS,
        UpdateJob.from_bytes,
        work,
        seconds=seconds,
        margin=LEASE_MARGIN_SECONDS,
        max_attempts=MAX_TAKEOVERS,
        give_up=_give_up,
    )


def _lease(deadline: float) -> float:
    return time.time() + max(0.0, deadline - time.monotonic()) + LEASE_MARGIN_SECONDS


async def _work(clients: Clients, job: UpdateJob, etag: str, deadline: float) -> bool:
    """Update studies from the cursor until done or ``deadline``; whether the job finished.

    The job is written after every batch of instances (its counts, and its lease renewed), and
    its cursor moves once a whole study is done; a worker that dies or runs out of time
    mid-study leaves the cursor there, and the next one passes over what is done already.
    Stops at once when another worker has written the job meanwhile (it took the job over).
    """
    change = parse_change_dataset(job.change)
    registry = await clients.index.registry()
    current: str | None = etag
    while current is not None and job.cursor < len(job.study_uids):
        if time.monotonic() >= deadline:
            return False
        study_uid = job.study_uids[job.cursor]
        try:
            instances = await visible_instances(clients.index, Scope(job.partition, study_uid))
        except NotFound:
            instances = []
            job.study_errors.append("the study is not stored")
        for start in range(0, len(instances), BATCH):
            if time.monotonic() >= deadline:
                return False
            batch = instances[start : start + BATCH]
            job.instances_updated += await _update_batch(clients, job, batch, change, registry)
            current = await jobs.save(clients, job, current, _lease(deadline))
            if current is None:
                return False
        _study_done(job, study_uid)
        current = await jobs.save(clients, job, current, _lease(deadline))
    return job.status != RUNNING


def _study_done(job: UpdateJob, study_uid: str) -> None:
    """Count the study at the cursor as updated or failed (Azure's words for each failure), and
    move on."""
    if job.study_errors:
        job.studies_failed += 1
        job.errors += [
            f"Failed to update instances for study {study_uid}: {reason}"
            for reason in sorted(set(job.study_errors))
        ]
    else:
        job.studies_updated += 1
    job.study_errors = []
    job.cursor += 1
    if job.cursor == len(job.study_uids):
        job.status = COMPLETED


async def _update_batch(
    clients: Clients,
    job: UpdateJob,
    batch: list[StoredInstance],
    change: ChangeDataset,
    registry: TagRegistry,
) -> int:
    """Update a batch of one study's instances, a few at a time, then refresh their series and
    study aggregates once; how many got a new copy. Why an instance failed goes into the job."""
    request = StoreRequest.begin(clients, registry)
    slots = asyncio.Semaphore(INSTANCES_IN_FLIGHT)

    async def one(instance: StoredInstance) -> bool:
        async with slots:
            return await update_instance(
                clients, instance, change, request, htj2k_copy=job.htj2k_copy
            )

    try:
        outcomes = await asyncio.gather(*(one(i) for i in batch), return_exceptions=True)
    finally:
        await request.finish(clients)
    updated = 0
    for outcome in outcomes:
        if isinstance(outcome, UpdateFailed):
            job.study_errors.append(str(outcome))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            updated += outcome
    return updated


def _holds(sidecar: Sidecar, change: ChangeDataset) -> bool:
    """Whether the copy's metadata already holds every changed attribute as the change sets it."""
    return all(sidecar.metadata.get(tag) == element for tag, element in change.elements.items())


async def update_instance(
    clients: Clients,
    instance: StoredInstance,
    change: ChangeDataset,
    request: StoreRequest | None = None,
    *,
    htj2k_copy: bool = False,
) -> bool:
    """Give one instance a changed copy; False when it needs none (done already, or deleted).

    Within a study, the instances of one ``request`` share its aggregates' refresh; alone, the
    instance's own series and study are refreshed before this returns.
    """
    if request is None:
        alone = StoreRequest.begin(clients, await clients.index.registry())
        try:
            return await update_instance(clients, instance, change, alone, htj2k_copy=htj2k_copy)
        finally:
            await alone.finish(clients)
    for _ in range(ATTEMPTS_PER_INSTANCE):
        sidecar = await read_sidecar(clients.blobs, instance)
        if _holds(sidecar, change):
            return False
        options = StoreOptions(
            api_version=2,
            partition=instance.ref.study.partition,
            study_uid=None,
            upsert=False,
            htj2k_copy=htj2k_copy,
            updating=instance,
        )
        outcome = await store_instance(
            await _changed_file(clients, instance, sidecar, change), options, clients, request
        )
        if outcome.failure is None:
            return True
        if outcome.failure != BEING_CREATED:
            raise UpdateFailed(f"an instance could not be stored again ({outcome.failure})")
        # The copy was replaced meanwhile (a store, or another update): update the new one.
        now = await clients.index.visible(instance.ref)
        if not now:
            return False
        instance = now[0]
    raise UpdateFailed("an instance kept changing while it was updated")


async def _changed_file(
    clients: Clients, instance: StoredInstance, sidecar: Sidecar, change: ChangeDataset
) -> AsyncIterator[bytes]:
    """The instance's file with the change applied, as a stream: the changed head, then the
    stored bytes from the pixel data element on, in ranged reads. A file whose pixel data
    cannot be addressed, or whose head cannot be encoded apart, is changed whole."""
    name, size = instance.file_blob, instance.size
    pixel = sidecar.pixel_data
    start = None
    if pixel is not None and pixel.get("offset") is not None:
        head = await clients.blobs.read_range(name, 0, int(pixel["offset"]))
        big_endian = sidecar.transfer_syntax_uid == ExplicitVRBigEndian
        start = pixel_data_start(head, int(pixel["tag"], 16), big_endian=big_endian)
        if start is None:
            raise UpdateFailed("an instance's stored layout does not match its sidecar")
        try:
            new_head = changed_head(head[:start], change, whole=False)
        except WholeFileNeeded:
            start = None
    if start is None:
        if size > WHOLE_FILE_LIMIT:
            raise UpdateFailed("an instance that must be changed whole is too large to update")
        new_head, start = (
            changed_head(await clients.blobs.read_range(name, 0, size), change, whole=True),
            size,
        )

    async def stream() -> AsyncIterator[bytes]:
        yield new_head
        if start < size:
            async for chunk in clients.blobs.chunks(name, start, size - start):
                yield chunk

    return stream()


def update_status(job: UpdateJob) -> dict[str, Any]:
    """The job as Azure's operation resource shows a bulk update."""
    results: dict[str, Any] = {
        "studyUpdated": job.studies_updated,
        "studyFailed": job.studies_failed,
        "instanceUpdated": job.instances_updated,
    }
    if job.errors:
        results["errors"] = job.errors
    return {
        "operationId": job.id,
        "type": "update",
        "createdTime": job.created,
        "lastUpdatedTime": job.updated,
        "status": job.status,
        "percentComplete": 100 * job.cursor // len(job.study_uids),
        "results": results,
    }
