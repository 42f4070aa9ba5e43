"""Writing the index so that it stays consistent without transactions.

A store goes through three index states, in this order:

1. **claim**: a ``pending`` instance document reserves the SOP Instance UID (create-if-absent).
   A second store of the same instance meanwhile gets 45071; once the instance is ``created`` it
   gets 45070. A claim carries a lease; a store that dies leaves a claim whose lease runs out, and
   the next store of that instance takes it over (its leftover blobs are named in the claim).
2. **files**: the DICOM file and its sidecar are written to blob storage under a new version.
3. **commit**: the claim becomes ``created`` (conditional on its etag), pointing at the version.

Readers only ever see ``created`` documents, whose files were written before the document said
so, so no reader sees an index entry without its file. Series and study documents hold
aggregates (instance counts, modalities) that are recomputed from their children, never
incremented: each refresh reads the aggregate's etag, then queries the children, then replaces the
aggregate only if the etag is unchanged. Whoever writes last has queried after every commit that
preceded it, so concurrent stores into one study end with exact counts, and a retried refresh is
harmless. Series attributes come from the newest instance of the series and study attributes from
the newest series, so the result does not depend on the order in which stores land.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from shared.uid_index.documents import (
    IndexRecord,
    JsonDict,
    claim_document,
    instance_document,
    series_from_instance,
    study_from_series,
)
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef

LEASE_SECONDS = 30.0
_ATTEMPTS = 50

ALREADY_EXISTS = 45070
BEING_CREATED = 45071


class InstanceConflict(Exception):
    """The instance cannot be stored now; ``reason`` is the DICOM failure reason to report."""

    def __init__(self, reason: int) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Claim:
    """A store's hold on one instance between claim and commit."""

    ref: InstanceRef
    version: str
    etag: str
    document: JsonDict
    replacing: bool = False
    """True when an upsert holds a ``created`` instance that stays visible until commit."""
    leftover_version: str | None = None
    """The version of a dead store's or a replaced copy's files, to delete after commit."""


async def read_document(container: ContainerProxy, doc_id: str, key: str) -> JsonDict | None:
    """A point read; None when the document is not there."""
    try:
        doc: JsonDict = await container.read_item(doc_id, partition_key=key)
        return doc
    except CosmosResourceNotFoundError:
        return None


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0.002, 0.01) * min(attempt + 1, 10))


async def _replace(container: ContainerProxy, doc: JsonDict, etag: str) -> JsonDict:
    result: JsonDict = await container.replace_item(
        doc["id"], doc, etag=etag, match_condition=MatchConditions.IfNotModified
    )
    return result


async def claim_instance(
    container: ContainerProxy, ref: InstanceRef, version: str, *, upsert: bool
) -> Claim:
    """Reserve ``ref`` for a store of ``version``, or raise InstanceConflict."""
    for attempt in range(_ATTEMPTS):
        now = time.time()
        doc = claim_document(ref, version, lease_until=now + LEASE_SECONDS)
        try:
            created: JsonDict = await container.create_item(doc)
            return Claim(ref, version, created["_etag"], doc)
        except CosmosResourceExistsError:
            pass
        existing = await read_document(container, ref.doc_id, ref.study.key)
        if existing is None:
            continue
        if existing["status"] == "created":
            if not upsert:
                raise InstanceConflict(ALREADY_EXISTS)
            return Claim(ref, version, existing["_etag"], existing, replacing=True)
        if existing["leaseUntil"] > now:
            raise InstanceConflict(BEING_CREATED)
        try:
            taken = await _replace(container, doc, existing["_etag"])
        except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
            await _backoff(attempt)
            continue
        return Claim(ref, version, taken["_etag"], doc, leftover_version=existing["version"])
    raise InstanceConflict(BEING_CREATED)


async def renew_claim(container: ContainerProxy, claim: Claim) -> None:
    """Extend a pending claim's lease while a large file is still uploading."""
    if claim.replacing:
        return
    doc = {**claim.document, "leaseUntil": time.time() + LEASE_SECONDS}
    try:
        renewed = await _replace(container, doc, claim.etag)
    except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError) as exc:
        raise InstanceConflict(BEING_CREATED) from exc
    claim.document, claim.etag = doc, renewed["_etag"]


async def commit_instance(
    container: ContainerProxy, claim: Claim, record: IndexRecord
) -> str | None:
    """Make the stored version visible; return the version whose files are now unreferenced."""
    doc = instance_document(record, status="created", lease_until=0.0)
    etag, leftover = claim.etag, claim.leftover_version
    if claim.replacing:
        leftover = claim.document["version"]
    for attempt in range(_ATTEMPTS):
        try:
            await _replace(container, doc, etag)
            return leftover
        except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
            if not claim.replacing:
                # Our lease ran out and another store took the instance over.
                raise InstanceConflict(BEING_CREATED) from None
        current = await read_document(container, claim.ref.doc_id, claim.ref.study.key)
        if current is None or current["status"] != "created":
            raise InstanceConflict(BEING_CREATED)
        # A concurrent upsert won the race; the last one to commit wins.
        etag, leftover = current["_etag"], current["version"]
        await _backoff(attempt)
    raise InstanceConflict(BEING_CREATED)


async def delete_if_unchanged(container: ContainerProxy, doc_id: str, key: str, etag: str) -> None:
    """Delete a document only as it was last read: a concurrent writer's change always wins."""
    with contextlib.suppress(CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
        await container.delete_item(
            doc_id, partition_key=key, etag=etag, match_condition=MatchConditions.IfNotModified
        )


async def release_claim(container: ContainerProxy, claim: Claim) -> None:
    """Give up a pending claim after a failed upload so a retry can proceed at once."""
    if not claim.replacing:
        await delete_if_unchanged(container, claim.ref.doc_id, claim.ref.study.key, claim.etag)


async def _query(container: ContainerProxy, query: str, key: str, **params: Any) -> list[Any]:
    parameters: list[dict[str, object]] = [{"name": "@pk", "value": key}]
    parameters += [{"name": f"@{name}", "value": value} for name, value in params.items()]
    return [
        item
        async for item in container.query_items(
            query=query, parameters=parameters, partition_key=key
        )
    ]


async def _converge(
    container: ContainerProxy,
    doc_id: str,
    key: str,
    compute: Callable[[], Awaitable[JsonDict | None]],
) -> None:
    """Read-etag, compute from children, write-if-unchanged; repeat until a write sticks."""
    for attempt in range(_ATTEMPTS):
        current = await read_document(container, doc_id, key)
        desired: JsonDict | None = await compute()
        try:
            if desired is None:
                if current is not None:
                    await container.delete_item(
                        doc_id,
                        partition_key=key,
                        etag=current["_etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                return
            if current is None:
                await container.create_item(desired)
            else:
                await _replace(container, desired, current["_etag"])
            return
        except (
            CosmosAccessConditionFailedError,
            CosmosResourceExistsError,
            CosmosResourceNotFoundError,
        ):
            await _backoff(attempt)
    raise RuntimeError("index aggregate did not converge")


async def refresh_series(container: ContainerProxy, series: SeriesRef) -> None:
    """Recompute a series document (count, attributes) from its created instances."""
    key = series.study.key

    async def compute() -> JsonDict | None:
        count = await _query(
            container,
            "SELECT VALUE COUNT(1) FROM c WHERE c.pk = @pk AND c.type = 'instance' "
            "AND c.seriesKey = @series AND c.status = 'created'",
            key,
            series=series.key,
        )
        if not count or not count[0]:
            return None
        newest = await _query(
            container,
            "SELECT TOP 1 * FROM c WHERE c.pk = @pk AND c.type = 'instance' "
            "AND c.seriesKey = @series AND c.status = 'created' ORDER BY c.version DESC",
            key,
            series=series.key,
        )
        if not newest:
            return None
        return series_from_instance(newest[0], int(count[0]))

    await _converge(container, series.doc_id, key, compute)


async def refresh_study(container: ContainerProxy, study: StudyRef) -> None:
    """Recompute a study document (series and instance counts, modalities) from its series."""
    key = study.key

    async def compute() -> JsonDict | None:
        series = await _query(
            container, "SELECT * FROM c WHERE c.pk = @pk AND c.type = 'series'", key
        )
        if not series:
            return None
        return study_from_series(series)

    await _converge(container, study.doc_id, key, compute)


async def refresh_series_and_studies(
    container: ContainerProxy, series: Iterable[SeriesRef]
) -> None:
    """Recompute the given series documents, then the documents of their studies.

    Series first: a study document is computed from its series documents.
    """
    by_key = {s.key: s for s in series}
    await asyncio.gather(*(refresh_series(container, s) for s in by_key.values()))
    studies = {s.study.key: s.study for s in by_key.values()}
    await asyncio.gather(*(refresh_study(container, s) for s in studies.values()))
