"""Long-running operations kept as jobs: small JSON blobs with a lease, resumed by the sweep.

An export and a bulk update are each recorded as a job in the service's own container
(``{kind}/{operation id}.json``) before the request answers 202. Whoever works on a job holds
its lease, renewed by every conditional write of the job (its etag), so two workers never both
go on with one: the one whose write fails stops. A host that dies leaves a lease that runs out,
and the sweep takes the job over. Each job's status and lease are also its blob's metadata, so
the sweep finds the due jobs in one listing, without reading finished ones.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from shared.clients import Clients
from shared.storage.errors import StorageUnavailable

JOB_TYPE = "application/json"

RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"


class Job(Protocol):
    """What the sweep needs of a job: where it is, its state, its lease and its takeovers."""

    status: str
    lease_until: float
    attempts: int
    updated: str

    @property
    def blob(self) -> str: ...

    def to_bytes(self) -> bytes: ...


J = TypeVar("J", bound=Job)


def new_id() -> str:
    """A new operation id: 32 hexadecimal digits, as Azure's."""
    return uuid.uuid4().hex


def is_job_id(operation_id: str) -> bool:
    """Whether an operation id is one ``new_id`` could have made."""
    return len(operation_id) == 32 and all(c in "0123456789abcdef" for c in operation_id)


def now_text() -> str:
    """The time as an operation resource shows it."""
    return datetime.now(UTC).isoformat()


def listing(job: Job) -> dict[str, str]:
    """What the sweep reads from the listing to pass over a job without reading it."""
    return {"status": job.status, "leaseuntil": repr(job.lease_until)}


def _due(listed: dict[str, str], now: float) -> bool:
    """Whether a listed job may be due for a takeover (a job listed without its state may)."""
    try:
        return listed["status"] == RUNNING and float(listed["leaseuntil"]) <= now
    except (KeyError, ValueError):
        return True


async def create(clients: Clients, job: Job) -> str | None:
    """Write a new job; its etag, or None if one of that name exists."""
    return await clients.blobs.put_if(job.blob, job.to_bytes(), JOB_TYPE, None, listing(job))


async def save(clients: Clients, job: Job, etag: str, lease_until: float) -> str | None:
    """Write the job, leased until ``lease_until``, if no one wrote it since ``etag``: its new
    etag, or None when another worker took it over (then this one stops)."""
    job.updated = now_text()
    job.lease_until = lease_until
    return await clients.blobs.put_if(job.blob, job.to_bytes(), JOB_TYPE, etag, listing(job))


async def read(clients: Clients, name: str, load: Callable[[bytes], J]) -> J | None:
    found = await clients.blobs.get_tagged(name)
    return None if found is None else load(found[0])


Work = Callable[[J, str, float], Awaitable[bool]]
"""Work on a job held at an etag until a ``time.monotonic()`` deadline; whether it finished."""


async def take_over_due(
    clients: Clients,
    prefix: str,
    load: Callable[[bytes], J],
    work: Work[J],
    *,
    seconds: float,
    margin: float,
    max_attempts: int,
    give_up: Callable[[J], None],
) -> int:
    """Take over every running job under ``prefix`` whose lease has run out and work on it for
    at most ``seconds`` in all; how many finished.

    A job taken over more than ``max_attempts`` times without moving is given up (``give_up``
    marks it failed): a dependency that never answers fails it in the end. ``margin`` is how
    long one step of the work may outlast the deadline, which the lease covers.
    """
    deadline = time.monotonic() + seconds
    finished = 0
    now = time.time()
    names = [name async for name, listed in clients.blobs.listed(prefix) if _due(listed, now)]
    for name in names:
        if time.monotonic() >= deadline:
            break
        found = await clients.blobs.get_tagged(name)
        if found is None:
            continue
        job = load(found[0])
        if job.status != RUNNING or job.lease_until > time.time():
            continue
        job.attempts += 1
        if job.attempts > max_attempts:
            give_up(job)
        lease_until = time.time() + (deadline - time.monotonic()) + margin
        etag = await save(clients, job, found[1], lease_until)
        if etag is not None and job.status == RUNNING:
            with contextlib.suppress(StorageUnavailable):  # tried again once its lease is out
                finished += await work(job, etag, deadline)
    return finished
