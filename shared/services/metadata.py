"""Retrieve metadata (PS3.18 §10.4.1.1.2): DICOM JSON from the ingest sidecars, not the files.

The sidecar holds each instance's DICOM JSON with BulkDataURIs relative to the instance; they are
made absolute here against the versioned root the request came in on. A study's sidecars are
read concurrently but a bounded number at a time, and the JSON array is sent as they arrive.

Each instance's served JSON is also kept in memory, by sidecar name and root: a sidecar never
changes under its name, so its answer for one root never does either, and a viewer opening a
series again is answered without parsing and re-encoding hundreds of sidecars (their JSON work
was three quarters of a warm 500-instance series metadata request).

The ETag is a digest of the root URL and of every visible instance's id and version, sorted:
any store, replace or delete in scope changes a version or the set, and so the tag, while an
unchanged study answers 304 to ``If-None-Match`` after one index query and no blob read.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from shared.clients import Clients
from shared.services.retrieve_scope import SIDECARS_AHEAD, Scope, read_sidecar, visible_instances
from shared.storage.blob_cache import BlobCache
from shared.storage.blob_store import BlobStore
from shared.uid_index.index import StoredInstance
from shared.uid_index.sidecar import Sidecar
from shared.web.media_types import DICOM_JSON, require_dicom_json
from shared.web.streaming import Answer, in_order, primed
from shared.web.urls import instance_url

SERVED_CACHE_BYTES = 64 * 1024 * 1024
"""Served instance metadata kept in memory: a few 500-instance CT series' worth."""

_served = BlobCache(SERVED_CACHE_BYTES)


def versions_tag(label: str, instances: list[StoredInstance]) -> str:
    """An entity tag from ``label`` and the stored version of every instance in scope."""
    digest = hashlib.sha256(label.encode("utf-8"))
    for line in sorted(f"{i.ref.doc_id}:{i.version}" for i in instances):
        digest.update(b"\n" + line.encode("ascii"))
    return f'"{digest.hexdigest()[:40]}"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


async def retrieve_metadata(
    clients: Clients, scope: Scope, root: str, accept: str | None, if_none_match: str | None
) -> Answer:
    """The scope's metadata, or 304 when the client's copy is current."""
    require_dicom_json(accept, "metadata")
    instances = await visible_instances(clients.index, scope)
    etag = versions_tag(root, instances)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if not_modified(if_none_match, etag):
        return Answer(None, status=304, headers=headers)
    body = await primed(metadata_body(clients.blobs, instances, root))
    return Answer(body, DICOM_JSON, headers=headers)


def served_metadata(sidecar: Sidecar, root: str) -> dict[str, Any]:
    """The instance's DICOM JSON with every BulkDataURI absolute."""
    ref = sidecar.ref
    base = instance_url(root, ref.study.study_uid, ref.series.series_uid, ref.sop_instance_uid)
    return _absolute(sidecar.metadata, base + "/")


def _absolute(dataset: dict[str, Any], base: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag, element in dataset.items():
        if "BulkDataURI" in element:
            element = {**element, "BulkDataURI": base + element["BulkDataURI"]}
        elif element.get("vr") == "SQ" and "Value" in element:
            element = {**element, "Value": [_absolute(item, base) for item in element["Value"]]}
        out[tag] = element
    return out


async def metadata_body(
    blobs: BlobStore, instances: list[StoredInstance], root: str
) -> AsyncIterator[bytes]:
    """The JSON array of the instances' metadata, one instance per piece."""

    async def fetch(instance: StoredInstance) -> bytes:
        key = f"{instance.sidecar_blob}\n{root}"
        served = _served.get(key)
        if served is None:
            sidecar = await read_sidecar(blobs, instance)
            metadata = served_metadata(sidecar, root)
            served = orjson.dumps(metadata)
            _served.put(key, served)
        return served

    separator = b"["
    async for piece in in_order(instances, fetch, ahead=SIDECARS_AHEAD):
        yield separator + piece
        separator = b","
    yield b"]" if separator == b"," else b"[]"
