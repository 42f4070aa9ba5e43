"""Export (the Azure DICOM service's ``POST /export``): stored files copied into a container.

A request names its sources (studies, series and instances, as ``study[/series[/instance]]``
UIDs) and a destination container. It is recorded as a *job*, a small JSON blob in the service's
own container under a name of digits only (``exports/{operation id}.json``), then carried out:
for each source in turn, every visible instance is copied by the destination itself from our blob
(``shared.storage.export_target``) into ``{operation id}/results/{study}/{series}/{instance}.dcm``,
and what could not be exported is a line of ``{operation id}/errors.log`` (JSON lines: when,
which identifier, why). The destination is the caller's: the UIDs they asked to export name its
files, as in Azure; nothing of them reaches the service's own blob names or logs.

The job holds a cursor (the next source), the counts and the error lines, and a lease. Each step
renews the lease with a conditional write, and the counts and cursor of a source are written
together once all its copies are done, so a host that dies mid-source leaves the cursor at that
source and the next worker copies it again: copies overwrite, so the result converges and nothing
is counted twice. The request works for its inline time; the sweep takes over every job whose
lease has run out, as it does a large delete's remainder (``jobs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.clients import Clients
from shared.config import DEFAULT_PARTITION
from shared.dicom.validation import is_valid_uid
from shared.errors import BadRequest, NotFound
from shared.services import jobs
from shared.services.jobs import COMPLETED, FAILED, RUNNING, now_text
from shared.services.retrieve_scope import Scope, visible_instances
from shared.storage.errors import StorageUnavailable
from shared.storage.export_target import (
    CopyFailed,
    ExportTarget,
    ExportTargetError,
    SourceSigner,
    is_container_url,
    open_target,
)
from shared.uid_index.index import StoredInstance

JOBS = "exports/"
MAX_SOURCES = 10_000
LEASE_SECONDS = 120.0
"""How long a worker holds a job between two writes of it: past this the sweep takes it over."""
COPY_SECONDS = 60.0
"""Longest wait for one copy to complete at the destination."""
COPIES_IN_FLIGHT = 16
"""Copies a worker has the destination carry out at once."""
MAX_ATTEMPTS = 12
"""Sweeps that may take a job over (an hour at the 5-minute schedule) before it fails."""


@dataclass(frozen=True)
class ExportRequest:
    sources: list[str]
    destination: str
    partition: str = DEFAULT_PARTITION
    """The data partition the sources are in (the request's path names it)."""


@dataclass
class ExportJob:
    id: str
    sources: list[str]
    destination: str
    created: str
    updated: str
    status: str = RUNNING
    cursor: int = 0
    exported: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    failure: str | None = None
    lease_until: float = 0.0
    partition: str = DEFAULT_PARTITION
    attempts: int = 0
    """Takeovers by the sweep: a destination that never answers fails the job in the end."""

    @property
    def blob(self) -> str:
        return job_blob(self.id)

    @property
    def errors_log(self) -> str:
        return f"{self.id}/errors.log"

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ExportJob:
        return cls(**json.loads(data))


def job_blob(operation_id: str) -> str:
    return f"{JOBS}{operation_id}.json"


def parse_export_request(body: Any, partition: str = DEFAULT_PARTITION) -> ExportRequest:
    """The request as Azure documents it; a 400 naming the first thing that is not."""
    if not isinstance(body, dict):
        raise BadRequest("the export request is a JSON object with source and destination")
    source, destination = body.get("source"), body.get("destination")
    if not isinstance(source, dict) or source.get("type") != "identifiers":
        raise BadRequest('source.type must be "identifiers"')
    values = (source.get("settings") or {}).get("values")
    if not isinstance(values, list) or not values:
        raise BadRequest("source.settings.values must be a non-empty list of identifiers")
    if len(values) > MAX_SOURCES:
        raise BadRequest(f"source.settings.values holds at most {MAX_SOURCES} identifiers")
    for position, value in enumerate(values, 1):
        parts = value.split("/") if isinstance(value, str) else []
        if not 1 <= len(parts) <= 3 or not all(is_valid_uid(p) for p in parts):
            raise BadRequest(
                f"source identifier {position} is not study[/series[/instance]] of UIDs"
            )
    if not isinstance(destination, dict) or str(destination.get("type")).lower() != "azureblob":
        raise BadRequest('destination.type must be "azureblob"')
    uri = (destination.get("settings") or {}).get("blobContainerUri")
    if not isinstance(uri, str) or not is_container_url(uri):
        raise BadRequest("destination.settings.blobContainerUri must be a blob container URL")
    return ExportRequest(list(values), uri, partition)


def _scope(partition: str, identifier: str) -> Scope:
    uids: list[str | None] = [*identifier.split("/"), None, None]
    return Scope(partition, str(uids[0]), uids[1], uids[2])


def _error_line(identifier: str, reason: str) -> str:
    return json.dumps({"Timestamp": now_text(), "Identifier": identifier, "Error": reason})


async def start_export(clients: Clients, request: ExportRequest, *, inline_seconds: float) -> str:
    """Record the job, work on it for ``inline_seconds``; its operation id. A destination the
    service cannot write to is a 400 when that shows before the first copy, a failed operation
    when it shows at a copy; one that does not answer leaves the job to the sweep."""
    try:
        await open_target(clients.blobs, request.destination).close()
    except ExportTargetError as exc:
        raise BadRequest(str(exc)) from None
    now = now_text()
    job = ExportJob(jobs.new_id(), request.sources, request.destination, now, now)
    job.partition = request.partition
    if inline_seconds > 0:  # held while the request works; otherwise the sweep's at once
        job.lease_until = time.time() + inline_seconds + COPY_SECONDS
    etag = await jobs.create(clients, job)
    if etag is not None and inline_seconds > 0:
        with contextlib.suppress(StorageUnavailable):
            await _work(clients, job, etag, time.monotonic() + inline_seconds)
    return job.id


async def read_job(clients: Clients, operation_id: str) -> ExportJob | None:
    return await jobs.read(clients, job_blob(operation_id), ExportJob.from_bytes)


def _give_up(job: ExportJob) -> None:
    job.status, job.failure = FAILED, "the destination did not answer"


async def resume_exports(clients: Clients, *, seconds: float) -> int:
    """Take over every running job whose lease has run out and work on it; jobs finished."""

    async def work(job: ExportJob, etag: str, deadline: float) -> bool:
        return await _work(clients, job, etag, deadline)

    return await jobs.take_over_due(
        clients,
        JOBS,
        ExportJob.from_bytes,
        work,
        seconds=seconds,
        margin=COPY_SECONDS,
        max_attempts=MAX_ATTEMPTS,
        give_up=_give_up,
    )


async def _work(clients: Clients, job: ExportJob, etag: str, deadline: float) -> bool:
    """Export sources from the cursor until done or ``deadline``; whether the job finished.

    Stops at once when another worker has written the job meanwhile (it took the job over).
    """
    try:
        target = open_target(clients.blobs, job.destination)
    except ExportTargetError as exc:
        job.status, job.failure = FAILED, str(exc)
        await _save(clients, job, etag, deadline)
        return True
    signer = SourceSigner(clients.blobs, clients.blob_service)
    written_errors = -1
    try:
        while job.cursor < len(job.sources) and time.monotonic() < deadline:
            exported, errors = await _export_source(clients, signer, target, job)
            job.cursor += 1
            job.attempts = 0  # it moves: only takeovers that get nowhere count towards failing
            job.exported += exported
            job.skipped += len(errors)
            job.errors.extend(errors)
            if len(job.errors) != written_errors:
                await target.put_text(job.errors_log, "".join(f"{e}\n" for e in job.errors))
                written_errors = len(job.errors)
            if job.cursor == len(job.sources):
                job.status = COMPLETED
            saved = await _save(clients, job, etag, deadline)
            if saved is None:
                return False
            etag = saved
    except ExportTargetError as exc:
        job.status, job.failure = FAILED, str(exc)
        await _save(clients, job, etag, deadline)
    finally:
        await target.close()
    return job.status != RUNNING


async def _save(clients: Clients, job: ExportJob, etag: str, deadline: float) -> str | None:
    lease_until = time.time() + max(0.0, deadline - time.monotonic()) + COPY_SECONDS
    return await jobs.save(clients, job, etag, lease_until)


async def _export_source(
    clients: Clients, signer: SourceSigner, target: ExportTarget, job: ExportJob
) -> tuple[int, list[str]]:
    """Copy every instance of the job's current source, ``COPIES_IN_FLIGHT`` at a time (each
    waits for the destination to finish it); how many were copied, and the error lines."""
    identifier = job.sources[job.cursor]
    try:
        instances = await visible_instances(clients.index, _scope(job.partition, identifier))
    except NotFound:
        return 0, [_error_line(identifier, "the identifier names nothing stored")]
    slots = asyncio.Semaphore(COPIES_IN_FLIGHT)

    async def copy(instance: StoredInstance) -> str | None:
        ref = instance.ref
        uids = f"{ref.study.study_uid}/{ref.series.series_uid}/{ref.sop_instance_uid}"
        async with slots:
            try:
                source = await signer.url(instance.file_blob)
                deadline = time.monotonic() + COPY_SECONDS
                await target.copy_in(f"{job.id}/results/{uids}.dcm", source, deadline)
            except CopyFailed as exc:
                return _error_line(uids, exc.reason)
        return None

    # Every copy runs to its end before a failure of the destination itself is raised.
    outcomes = await asyncio.gather(*(copy(i) for i in instances), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    errors = [line for line in outcomes if isinstance(line, str)]
    return len(outcomes) - len(errors), errors


def export_status(job: ExportJob, errors_href: str) -> dict[str, Any]:
    """The job as Azure's operation resource shows an export."""
    status: dict[str, Any] = {
        "operationId": job.id,
        "type": "export",
        "createdTime": job.created,
        "lastUpdatedTime": job.updated,
        "status": job.status,
        "percentComplete": 100 * job.cursor // len(job.sources),
        "results": {"errorHref": errors_href, "exported": job.exported, "skipped": job.skipped},
    }
    if job.failure is not None:
        status["errors"] = [job.failure]
    return status
