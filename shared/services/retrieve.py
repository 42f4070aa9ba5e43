"""Retrieve (WADO-RS) of whole instances: a study, a series or one instance, part by part.

Before any header is sent, the index gives every instance's stored transfer syntax and size (one
query, no blob read), so that a syntax some instance cannot be converted to is a 406, not a
broken stream. The sidecars of the instances that would be converted are read too: whether an
encoder takes an instance depends on its pixel format, and whether it can be converted frame by
frame on its frames' byte ranges.

Mixed-syntax rule: the negotiated transfer syntax applies to every instance. With
``transfer-syntax=*`` each instance is sent as stored and each part names its own syntax;
with a UID every instance is converted to it (sent unchanged when already in it), and the first
acceptable rendition that every instance can be given in wins.

Files already in the wanted syntax stream from blob storage in ranged reads with one read ahead;
files to convert are converted frame by frame as they stream (``shared.services.frame_transcode``),
or, when their frames have no byte ranges, read whole and converted off the event loop. Small files
sent as stored are read a few parts ahead: a study of many small instances would otherwise wait
out one blob read's latency per part (see docs/performance.md).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace

from pydicom import Dataset

from shared.clients import Clients
from shared.dicom.transfer_syntaxes import AS_STORED
from shared.dicom.unreadable import UNCONVERTIBLE, decoded
from shared.errors import NotAcceptable
from shared.pixels.encoders import ENCODINGS, can_encode_from
from shared.pixels.transcode import MAX_TRANSCODE_BYTES, can_convert, convert, pixel_attributes
from shared.services.file_names import file_names
from shared.services.frame_transcode import can_convert_by_frame, converted_by_frame
from shared.services.frames import FrameSource
from shared.services.retrieve_scope import Scope, read_sidecar, visible_instances
from shared.storage.blob_store import READ_CHUNK_SIZE, BlobStore
from shared.uid_index.index import StoredInstance
from shared.uid_index.keys import version_time
from shared.web.multipart import new_boundary, write_parts
from shared.web.negotiation import DICOM, ZIP, Rendition, instance_renditions, request_wishes
from shared.web.streaming import Answer, in_order, multipart_type, primed
from shared.web.zip_stream import ZipEntry, zip_stream

PARTS_AHEAD = 4
"""Small files read ahead of the part being sent: at most this many reads of one chunk each."""
SIDECARS_AHEAD = 8
"""Sidecar reads in flight while planning an encoding."""


@dataclass(frozen=True)
class PlannedInstance:
    instance: StoredInstance
    stored_syntax: str
    size: int
    pixels: Dataset | None = None
    """Image Pixel attributes, read when the instance may be converted; None without pixels."""
    frames: FrameSource | None = None
    """The frames, when the file can be converted frame by frame; read with ``pixels``."""

    def syntax_for(self, rendition: Rendition) -> str:
        """The syntax this instance is sent in under ``rendition``."""
        wanted = rendition.transfer_syntax
        return self.stored_syntax if wanted == AS_STORED else wanted

    def can_be_given(self, rendition: Rendition) -> bool:
        syntax = self.syntax_for(rendition)
        if syntax == self.stored_syntax:
            return True
        if not can_convert(self.stored_syntax, syntax):
            return False
        if self.frames is None and self.size > MAX_TRANSCODE_BYTES:
            return False
        if syntax not in ENCODINGS or self.pixels is None:
            return True
        return can_encode_from(syntax, self.pixels, self.stored_syntax)


async def plan(
    blobs: BlobStore, instances: list[StoredInstance], renditions: list[Rendition]
) -> list[PlannedInstance]:
    """The instances with what choosing a rendition needs, read before any byte is sent (a few
    sidecars at a time): for an instance that may be converted, whether its frames have byte
    ranges (then it is converted frame by frame) and, since whether an encoder takes its pixels
    depends on them, its Image Pixel attributes."""
    targets = {r.transfer_syntax for r in renditions} - {AS_STORED}

    async def planned(instance: StoredInstance) -> PlannedInstance:
        item = PlannedInstance(instance, instance.transfer_syntax_uid, instance.size)
        if not targets - {instance.transfer_syntax_uid}:
            return item
        sidecar = await read_sidecar(blobs, instance)
        if sidecar.pixel_data is None:
            return item
        source = FrameSource(sidecar, instance.file_blob)
        frames = source if can_convert_by_frame(source) else None
        return replace(item, pixels=pixel_attributes(sidecar.metadata), frames=frames)

    return [p async for p in in_order(instances, planned, ahead=SIDECARS_AHEAD)]


def choose(renditions: list[Rendition], planned: list[PlannedInstance]) -> Rendition:
    """The first acceptable rendition that every instance can be given in."""
    for rendition in renditions:
        if all(p.can_be_given(rendition) for p in planned):
            return rendition
    raise NotAcceptable(
        "the instances cannot be given in the requested transfer syntax; "
        "transfer-syntax=* returns them as stored"
    )


async def retrieve_instances(
    clients: Clients, scope: Scope, accept: str | None, accept_parameter: Sequence[str] = ()
) -> Answer:
    """A study, series or instance, in the best rendition the ``accept`` query parameter, then
    the Accept header, allows."""
    found = request_wishes(accept, accept_parameter, DICOM)
    renditions = instance_renditions(found, single_part=scope.sop_uid is not None)
    instances = await visible_instances(clients.index, scope)
    planned = await plan(clients.blobs, instances, renditions)
    rendition = choose(renditions, planned)
    if rendition.zipped:
        disposition = f'attachment; filename="{scope.level}.zip"'
        body = await zip_body(clients.blobs, planned, rendition)
        return Answer(body, ZIP, headers={"Content-Disposition": disposition})
    if not rendition.multipart:
        (item,) = planned
        syntax = item.syntax_for(rendition)
        body = await primed(instance_body(clients.blobs, item, syntax))
        unchanged = syntax == item.stored_syntax
        headers = {"Content-Length": str(item.size)} if unchanged else {}
        return Answer(body, part_content_type(syntax), headers=headers)
    boundary = new_boundary()
    body = await multipart_body(clients.blobs, planned, rendition, boundary)
    return Answer(body, multipart_type(DICOM, boundary))


def part_content_type(syntax: str) -> str:
    return f"{DICOM}; transfer-syntax={syntax}"


async def instance_body(
    blobs: BlobStore, planned: PlannedInstance, syntax: str
) -> AsyncIterator[bytes]:
    """The instance's file in ``syntax``: streamed when stored so, converted frame by frame when
    its frames have byte ranges, else read and converted whole."""
    name = planned.instance.file_blob
    if syntax == planned.stored_syntax:
        async for chunk in blobs.chunks(name, 0, planned.size):
            yield chunk
        return
    if planned.frames is not None:
        async for piece in converted_by_frame(blobs, planned.frames, syntax):
            yield piece
        return
    data = await blobs.read_range(name, 0, planned.size)
    yield await decoded(UNCONVERTIBLE, convert, data, syntax)


async def opened_bodies(
    blobs: BlobStore, planned: list[PlannedInstance], rendition: Rendition
) -> AsyncGenerator[tuple[PlannedInstance, AsyncIterator[bytes]], None]:
    """Each instance with its file in the rendition's syntax, in order, for multipart or zip.

    The first file is reached before this returns; small files as stored are read a few ahead.
    """

    def body(item: PlannedInstance) -> AsyncIterator[bytes]:
        return instance_body(blobs, item, item.syntax_for(rendition))

    async def opened(item: PlannedInstance) -> AsyncIterator[bytes]:
        """A small file as stored with its one read done; any other left to stream when sent."""
        small = item.size <= READ_CHUNK_SIZE and item.syntax_for(rendition) == item.stored_syntax
        return await primed(body(item)) if small else body(item)

    first = await primed(body(planned[0]))

    async def bodies() -> AsyncGenerator[tuple[PlannedInstance, AsyncIterator[bytes]], None]:
        ahead = in_order(planned[1:], opened, ahead=PARTS_AHEAD)
        try:
            yield planned[0], first
            for item in planned[1:]:
                yield item, await anext(ahead)
        finally:
            await ahead.aclose()  # a client gone mid-study: stop the reads ahead

    return bodies()


async def multipart_body(
    blobs: BlobStore, planned: list[PlannedInstance], rendition: Rendition, boundary: str
) -> AsyncIterator[bytes]:
    """The instances as multipart parts; the first file is reached before this returns."""
    bodies = await opened_bodies(blobs, planned, rendition)

    async def parts() -> AsyncIterator[tuple[Mapping[str, str], AsyncIterator[bytes]]]:
        try:
            async for item, body in bodies:
                yield {"Content-Type": part_content_type(item.syntax_for(rendition))}, body
        finally:
            await bodies.aclose()

    return write_parts(parts(), boundary)


async def zip_body(
    blobs: BlobStore, planned: list[PlannedInstance], rendition: Rendition
) -> AsyncIterator[bytes]:
    """The instances as the files of a zip, named by their numbers (``file_names``) and dated
    when stored, so that the same study zips to the same bytes; the first file is reached
    before this returns. A converted file's size is unknown until written."""
    bodies = await opened_bodies(blobs, planned, rendition)
    names = dict(
        zip(
            (p.instance.ref for p in planned),
            file_names([p.instance for p in planned]),
            strict=True,
        )
    )

    async def entries() -> AsyncIterator[ZipEntry]:
        try:
            async for item, body in bodies:
                unchanged = item.syntax_for(rendition) == item.stored_syntax
                size = item.size if unchanged else None
                when = version_time(item.instance.version)
                yield ZipEntry(names[item.instance.ref], body, size, when)
        finally:
            await bodies.aclose()

    return zip_stream(entries())
