"""Rendered resources (PS3.18 §10.4.1.1.3): an instance or frame as one image, a study or series
as one image per instance.

A rendered instance is its first frame. A frame list names one frame: several frames would be a
multipart or video answer, which is not offered. A rendered study or series is a multipart
answer with one image per instance that has pixel data (its first frame), in the index's order;
instances without pixel data, or whose pixels cannot be decoded or shown, are left out, and a
scope with no image at all is a 406. Instances are rendered ``RENDER_AHEAD`` at a time while
earlier parts are sent.

Entity tags digest the resource, the parameters and the version of every instance in scope, so
an unchanged resource answers 304 after one index query. Rendered images are revalidated on each
use (``no-cache``): a replaced instance must never show its old pixels from a browser cache.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from shared.clients import Clients
from shared.dicom.unreadable import UNDECODABLE, decoded
from shared.errors import BadRequest, NotAcceptable
from shared.pixels.options import RenderParams
from shared.pixels.rendering import render
from shared.pixels.transcode import can_decode
from shared.services.metadata import not_modified, versions_tag
from shared.services.render_source import has_pixels, load_frame
from shared.services.retrieve_scope import Scope, read_sidecar, visible_instances
from shared.storage.blob_store import BlobStore
from shared.uid_index.index import StoredInstance
from shared.uid_index.sidecar import Sidecar
from shared.web.multipart import new_boundary, write_parts
from shared.web.negotiation import parse_frame_list
from shared.web.streaming import Answer, in_order, multipart_type, once, primed

RENDERED_CACHE = "private, no-cache"
RENDER_AHEAD = 2
"""Instances of a rendered study or series being rendered while earlier ones are sent."""


async def retrieve_rendered(
    clients: Clients,
    scope: Scope,
    frame_list: str | None,
    params: RenderParams,
    if_none_match: str | None,
) -> Answer:
    number, instances, etag = await image_resource(clients, "rendered", scope, frame_list, params)
    if not_modified(if_none_match, etag):
        return not_modified_answer(etag, RENDERED_CACHE)
    (instance,) = instances
    sidecar = await read_sidecar(clients.blobs, instance)
    image = await render_frame(clients.blobs, instance, sidecar, number, params)
    return image_answer(image, params.media_type, etag, RENDERED_CACHE)


async def retrieve_rendered_instances(
    clients: Clients, scope: Scope, params: RenderParams, if_none_match: str | None
) -> Answer:
    """A rendered study or series: the first part is rendered before this returns."""
    _, instances, etag = await image_resource(clients, "rendered", scope, None, params)
    if not_modified(if_none_match, etag):
        return not_modified_answer(etag, RENDERED_CACHE)
    decodable = [i for i in instances if can_decode(i.transfer_syntax_uid)]

    async def fetch(instance: StoredInstance) -> bytes | None:
        sidecar = await read_sidecar(clients.blobs, instance)
        if not has_pixels(sidecar):
            return None
        try:
            return await render_frame(clients.blobs, instance, sidecar, 1, params)
        except NotAcceptable:  # pixels this service cannot show: left out, as non-images are
            return None

    async def parts() -> AsyncIterator[tuple[Mapping[str, str], AsyncIterator[bytes]]]:
        sent = 0
        async for image in in_order(decodable, fetch, ahead=RENDER_AHEAD):
            if image is not None:
                sent += 1
                yield {"Content-Type": params.media_type}, once(image)
        if not sent:
            raise NotAcceptable(f"no instance of the {scope.level} has an image rendering")

    boundary = new_boundary()
    body = await primed(write_parts(parts(), boundary))
    headers = {"ETag": etag, "Cache-Control": RENDERED_CACHE}
    return Answer(body, multipart_type(params.media_type, boundary), headers=headers)


def one_frame(frame_list: str | None) -> int:
    """The frame a rendered or thumbnail resource shows: 1 unless the path names one."""
    if frame_list is None:
        return 1
    numbers = parse_frame_list(frame_list)
    if len(numbers) != 1:
        raise BadRequest("a rendered or thumbnail frame resource names exactly one frame")
    return numbers[0]


async def image_resource(
    clients: Clients, kind: str, scope: Scope, frame_list: str | None, params: RenderParams
) -> tuple[int, list[StoredInstance], str]:
    """What a rendered or thumbnail resource shows (its frame and instances), and its entity
    tag, which changes with the resource, its parameters, and any store, replace or delete in
    scope."""
    number = one_frame(frame_list)
    instances = await visible_instances(clients.index, scope)
    tag = versions_tag(f"{kind} {scope.level}\n{number}\n{params.key}", instances)
    return number, instances, tag


async def render_frame(
    blobs: BlobStore, instance: StoredInstance, sidecar: Sidecar, number: int, params: RenderParams
) -> bytes:
    frame = await load_frame(blobs, instance.file_blob, sidecar, number)
    return await decoded(UNDECODABLE, render, frame, params)


def image_answer(image: bytes, media_type: str, etag: str, cache: str) -> Answer:
    headers = {"ETag": etag, "Cache-Control": cache, "Content-Length": str(len(image))}
    return Answer(once(image), media_type, headers=headers)


def not_modified_answer(etag: str, cache: str) -> Answer:
    return Answer(None, status=304, headers={"ETag": etag, "Cache-Control": cache})
