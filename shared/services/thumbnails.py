"""Thumbnail resources (PS3.18 §10.4.1.1.3): a small image standing for a study, series, instance
or frame.

A study or series shows its representative instance: the first, in the index's order (Series
Instance UID, then SOP Instance UID), with pixel data this service can show, among the first
``CANDIDATES``. An instance shows its first frame.

The default thumbnail of an instance (no ``viewport``, JPEG) is cached in blob storage beside the
stored copy it was made from (``InstanceRef.thumbnail_blob``), so once each study of a list has
been shown, its thumbnail costs one index query and one small blob read. It goes with its copy
on delete or replace. A thumbnail written while a delete of its copy runs could outlive it, so
after writing, the sidecar is checked and the thumbnail removed when the copy is gone; what
still slips through is an orphan that ``verify`` finds. Thumbnails may be reused by a browser
for a few minutes without asking.
"""

from __future__ import annotations

import contextlib

from shared.clients import Clients
from shared.errors import NotAcceptable
from shared.pixels.options import JPEG, RenderParams
from shared.pixels.transcode import can_decode
from shared.services.metadata import not_modified
from shared.services.render_source import has_pixels
from shared.services.rendered import (
    image_answer,
    image_resource,
    not_modified_answer,
    render_frame,
)
from shared.services.retrieve_scope import Scope, read_sidecar
from shared.storage.blob_store import BlobStore
from shared.storage.errors import StorageUnavailable
from shared.uid_index.index import StoredInstance
from shared.web.render_params import is_default_thumbnail
from shared.web.streaming import Answer

THUMBNAIL_CACHE = "private, max-age=300"
CANDIDATES = 16
"""Instances of a study or series looked at for one to show."""


async def retrieve_thumbnail(
    clients: Clients,
    scope: Scope,
    frame_list: str | None,
    params: RenderParams,
    if_none_match: str | None,
) -> Answer:
    number, instances, etag = await image_resource(clients, "thumbnail", scope, frame_list, params)
    if not_modified(if_none_match, etag):
        return not_modified_answer(etag, THUMBNAIL_CACHE)
    cached = frame_list is None and is_default_thumbnail(params)
    image = await _thumbnail(clients.blobs, instances, number, params, cached=cached)
    return image_answer(image, params.media_type, etag, THUMBNAIL_CACHE)


async def _thumbnail(
    blobs: BlobStore,
    instances: list[StoredInstance],
    number: int,
    params: RenderParams,
    *,
    cached: bool,
) -> bytes:
    """The thumbnail of the first candidate that can be shown. A cached one is looked for first
    (only such a candidate has one), so a cache hit reads no sidecar."""
    refusal = NotAcceptable("no instance here has pixel data, so there is no image to show")
    for instance in _in_viewing_order(instances)[:CANDIDATES]:
        if cached and (found := await blobs.get(_cache_blob(instance))) is not None:
            return found
        if not can_decode(instance.transfer_syntax_uid):
            continue
        sidecar = await read_sidecar(blobs, instance)
        if not has_pixels(sidecar):
            continue
        try:
            image = await render_frame(blobs, instance, sidecar, number, params)
        except NotAcceptable as exc:  # e.g. a photometric interpretation that is not shown
            refusal = exc
            continue
        if cached:
            await _keep(blobs, instance, image)
        return image
    raise refusal


def _in_viewing_order(instances: list[StoredInstance]) -> list[StoredInstance]:
    """Series as retrieve orders them, each in InstanceNumber order (instances without one
    last), so a series thumbnail shows the image a viewer opens the series on."""
    return sorted(
        instances,
        key=lambda i: (
            i.ref.series.series_uid,
            i.instance_number is None,
            i.instance_number or 0,
            i.ref.sop_instance_uid,
        ),
    )


async def _keep(blobs: BlobStore, instance: StoredInstance, image: bytes) -> None:
    """Cache a default thumbnail beside its stored copy, unless the copy went meanwhile.

    A failed cache write costs the next request a render, not this one its answer.
    """
    name = _cache_blob(instance)
    with contextlib.suppress(StorageUnavailable):
        await blobs.put(name, image, JPEG)
        if not await blobs.exists(instance.sidecar_blob):
            await blobs.delete([name])


def _cache_blob(instance: StoredInstance) -> str:
    return instance.ref.thumbnail_blob(instance.version)
