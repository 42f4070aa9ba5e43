"""Reading back what the service stored, straight from the emulators."""

from __future__ import annotations

from typing import Any

from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.clients import Clients
from shared.config import DEFAULT_PARTITION
from shared.storage.blob_store import BLOCK_SIZE
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef
from shared.uid_index.lifecycle import Lifecycle
from shared.uid_index.sidecar import Sidecar

CLAIMED_AFTER = BLOCK_SIZE + 256 * 1024
"""Bytes of a part after which its claim has been sent: a file larger than one upload is claimed
before its first block (a smaller one is claimed only if its one-step commit is refused)."""


def ref_of(study: str, series: str, sop: str) -> InstanceRef:
    return InstanceRef.of(DEFAULT_PARTITION, study, series, sop)


async def document(storage: Clients, doc_id: str, key: str) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = await storage.index.container.read_item(doc_id, partition_key=key)
        return doc
    except CosmosResourceNotFoundError:
        return None


async def instance_doc(storage: Clients, ref: InstanceRef) -> dict[str, Any] | None:
    """The instance's entry in any state but purged: what is kept of a deleted instance (its
    change feed history) is no entry."""
    doc = await document(storage, ref.doc_id, ref.study.key)
    return None if doc is None or doc["status"] == Lifecycle.PURGED else doc


async def series_doc(storage: Clients, ref: SeriesRef) -> dict[str, Any] | None:
    return await document(storage, ref.doc_id, ref.study.key)


async def study_doc(storage: Clients, ref: StudyRef) -> dict[str, Any] | None:
    return await document(storage, ref.doc_id, ref.key)


async def stored_file(storage: Clients, ref: InstanceRef) -> bytes | None:
    """The bytes of the instance's current version, as the index points to them."""
    doc = await instance_doc(storage, ref)
    if doc is None or doc["status"] != "created":
        return None
    return await storage.blobs.get(ref.file_blob(doc["version"]))


async def stored_sidecar(storage: Clients, ref: InstanceRef) -> Sidecar | None:
    doc = await instance_doc(storage, ref)
    if doc is None:
        return None
    data = await storage.blobs.get(ref.sidecar_blob(doc["version"]))
    return None if data is None else Sidecar.from_bytes(data)


async def blob_names(storage: Clients, prefix: str) -> list[str]:
    return [name async for name in storage.blobs.names(prefix)]
