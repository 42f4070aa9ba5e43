"""Retrieve frames (PS3.18 §10.4.1.1.4): pixel data of chosen frames, by byte range when it can.

The sidecar lists each frame's byte ranges in the stored file, so a frame of an uncompressed
or natively encapsulated instance is one ranged read (one per fragment), whatever the file size.
Compressed frames asked for uncompressed are decoded one by one; big endian native frames are
byte-swapped. Files whose frames have no ranges (a deflated data set, packed single-bit pixels)
are read and decoded whole, and their frames are served uncompressed as their stored form.

One frame honours an HTTP ``Range``: an HTJ2K RPCL codestream holds its resolution levels lowest
first, so a viewer paints a coarse image from the first bytes and asks for the rest later.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, replace

from pydicom.uid import UID, HTJ2KLossless, HTJ2KLosslessRPCL

from shared.clients import Clients
from shared.dicom.transfer_syntaxes import AS_STORED, EXPLICIT_VR_LITTLE_ENDIAN
from shared.dicom.unreadable import UNDECODABLE, decoded
from shared.errors import NotFound
from shared.pixels.encoders import (
    ENCODINGS,
    can_encode_from,
    decoded_attributes,
    encode_native_frame,
)
from shared.pixels.transcode import (
    can_decode,
    decode_frame,
    frames_of_file,
    native_word_size,
    pixel_attributes,
    swap_words,
)
from shared.services.frame_prefetch import FRAMES_AT_MOST, Prefetch, last_seen, remember, start
from shared.services.retrieve_scope import (
    Scope,
    cached_frame_view,
    index_scope,
    read_frame_view,
    visible_instances,
)
from shared.storage.blob_store import BlobStore
from shared.uid_index.keys import InstanceRef
from shared.uid_index.sidecar import Sidecar
from shared.web.byte_ranges import byte_range, range_headers
from shared.web.multipart import new_boundary, write_parts
from shared.web.negotiation import Rendition, Wish, frame_rendition, parse_frame_list, wishes
from shared.web.streaming import Answer, in_order, multipart_type, once, primed

FRAMES_AHEAD = 4
"""Frame reads in flight while earlier frames are sent."""

HTJ2K_COPY_SERVES = frozenset({HTJ2KLossless, HTJ2KLosslessRPCL})
"""The syntaxes an ingest HTJ2K copy (``htj2k_copy``, lossless RPCL) answers for: an RPCL
codestream is a lossless HTJ2K codestream too."""


@dataclass(frozen=True)
class FrameSource:
    """What is known about an instance's frames before any pixel byte is read."""

    sidecar: Sidecar
    file_blob: str

    @property
    def by_range(self) -> bool:
        return self.sidecar.frames is not None

    @property
    def syntax(self) -> str:
        """The syntax frames are available in: as stored, or uncompressed when decoded whole."""
        if self.by_range:
            return self.sidecar.transfer_syntax_uid
        return EXPLICIT_VR_LITTLE_ENDIAN

    @property
    def word_size(self) -> int:
        """The unit a big endian native frame is byte-swapped in; 1 when nothing is swapped."""
        stored = UID(self.syntax)
        if stored.is_encapsulated or stored.is_little_endian:
            return 1
        bits_allocated = int(pixel_attributes(self.sidecar.metadata).BitsAllocated)
        return native_word_size(self.sidecar.metadata, bits_allocated)

    def stored_ranges(self, number: int) -> list[tuple[int, int]]:
        """The byte ranges of frame ``number`` (1-based) as stored.

        A big endian frame is widened to whole words: swapped in pairs, 8-bit samples of an odd
        length frame end inside a word whose other byte comes first in the file, so the frame's
        own byte range would cut its last sample off (as pydicom, the frame is whole words).
        """
        assert self.sidecar.frames is not None and self.sidecar.pixel_data is not None
        ranges = [(int(offset), int(length)) for offset, length in self.sidecar.frames[number - 1]]
        size = self.word_size
        if size == 1:
            return ranges
        ((offset, length),) = ranges
        value_offset = int(self.sidecar.pixel_data["offset"])
        start = offset - (offset - value_offset) % size
        end = offset + length
        end += -(end - value_offset) % size
        return [(start, end - start)]

    @property
    def count(self) -> int:
        if self.sidecar.frames is not None:
            return len(self.sidecar.frames)
        value = (self.sidecar.metadata.get("00280008", {}).get("Value") or [1])[0]
        # The metadata keeps a malformed NumberOfFrames as text: one frame, as when it is absent.
        return max(value, 1) if isinstance(value, int) else 1


def served_from(source: FrameSource, rendition: Rendition) -> FrameSource:
    """Where the frames of ``rendition`` are read: the instance's HTJ2K copy when it has one and
    the rendition is HTJ2K lossless, so that they are sent as stored, else the file."""
    sidecar = source.sidecar
    syntax = rendition.transfer_syntax
    if sidecar.htj2k_frames is None or syntax not in HTJ2K_COPY_SERVES:
        return source
    frames = [[list(frame)] for frame in sidecar.htj2k_frames]
    copy = replace(sidecar, transfer_syntax_uid=syntax, frames=frames)
    return FrameSource(copy, sidecar.ref.htj2k_blob(sidecar.version))


def frame_source(sidecar: Sidecar, file_blob: str, numbers: list[int]) -> FrameSource:
    """The instance's frames; 404 when it has no pixel data or a frame number is past the end."""
    if sidecar.pixel_data is None:
        raise NotFound("the instance has no pixel data")
    source = FrameSource(sidecar, file_blob)
    if max(numbers) > source.count:
        raise NotFound("a requested frame is beyond the instance's number of frames")
    return source


def part_content_type(rendition: Rendition) -> str:
    return f"{rendition.media_type}; transfer-syntax={rendition.transfer_syntax}"


async def frame_bodies(
    blobs: BlobStore, source: FrameSource, rendition: Rendition, numbers: list[int]
) -> AsyncGenerator[bytes, None]:
    """Each requested frame in ``rendition``, in the order asked, a few read ahead."""
    if not source.by_range:
        data = await blobs.read_range(source.file_blob, 0, source.sidecar.size)
        for frame in await decoded(UNDECODABLE, frames_of_file, data, numbers):
            yield await _encoded(frame, source, rendition)
        return

    async def fetch(number: int) -> bytes:
        return await _encoded(await _frame(blobs, source, rendition, number), source, rendition)

    async for frame in in_order(numbers, fetch, ahead=FRAMES_AHEAD):
        yield frame


async def read_frame(blobs: BlobStore, source: FrameSource, number: int) -> bytes:
    """Frame ``number`` (1-based) as stored: its byte ranges (one per fragment), read at once."""
    ranges = source.stored_ranges(number)
    pieces = await asyncio.gather(
        *(blobs.read_range(source.file_blob, offset, length) for offset, length in ranges)
    )
    return b"".join(pieces)


async def read_native_frame(blobs: BlobStore, source: FrameSource, number: int) -> bytes:
    """Frame ``number`` of native pixel data as little endian: a big endian frame is read in
    whole words, swapped, and cut back to the frame's own bytes."""
    data = await read_frame(blobs, source, number)
    size = source.word_size
    if size == 1:
        return data
    assert source.sidecar.frames is not None
    ((offset, length),) = source.sidecar.frames[number - 1]
    ((start, _),) = source.stored_ranges(number)
    return swap_words(data, size)[offset - start : offset - start + length]


async def _frame(blobs: BlobStore, source: FrameSource, rendition: Rendition, number: int) -> bytes:
    stored = UID(source.syntax)
    if _as_stored(source, rendition):
        return await read_frame(blobs, source, number)
    if stored.is_encapsulated:
        data = await read_frame(blobs, source, number)
        attributes = pixel_attributes(source.sidecar.metadata)
        return await decoded(UNDECODABLE, decode_frame, data, stored, attributes)
    return await read_native_frame(blobs, source, number)


async def _encoded(native: bytes, source: FrameSource, rendition: Rendition) -> bytes:
    """A frame in the rendition's compressed syntax when it names one it is not stored in (the
    frame is then native little endian, decoded or swapped); otherwise as it is."""
    if rendition.transfer_syntax not in ENCODINGS or rendition.transfer_syntax == source.syntax:
        return native
    attributes = decoded_attributes(pixel_attributes(source.sidecar.metadata), source.syntax)
    return await asyncio.to_thread(
        encode_native_frame, rendition.transfer_syntax, native, attributes
    )


def multipart_frames(
    frames: AsyncIterator[bytes], rendition: Rendition, boundary: str
) -> AsyncIterator[bytes]:
    async def parts() -> AsyncIterator[tuple[Mapping[str, str], AsyncIterator[bytes]]]:
        headers = {"Content-Type": part_content_type(rendition)}
        async for frame in frames:
            yield headers, once(frame)

    return write_parts(parts(), boundary)


def ranges_within(ranges: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of ``ranges`` (offset, length), read one after the other, that hold bytes
    ``start`` to ``end`` (exclusive) of what they hold together."""
    found = []
    position = 0
    for offset, length in ranges:
        low, high = max(start, position), min(end, position + length)
        if low < high:
            found.append((offset + low - position, high - low))
        position += length
    return found


async def ranged_frame(
    blobs: BlobStore, source: FrameSource, rendition: Rendition, number: int, range_header: str
) -> Answer:
    """One frame, or the part of it a ``Range`` header names (206 with ``Content-Range``).

    The range is of the representation: the frame itself, or the multipart body that frames it.
    A frame sent as stored, single part, is read only where the range falls. Otherwise the
    frame is made whole and the range cut from it; a multipart body's boundary is then a digest
    of the frame, so the same frame in the same rendition is the same bytes on every request and
    the ranges of successive requests join up, as viewers that append them before parsing the
    multipart expect.
    """
    if not rendition.multipart and source.by_range and _as_stored(source, rendition):
        stored = source.stored_ranges(number)
        length = sum(part for _, part in stored)
        wanted = byte_range(range_header, length)
        start, end = wanted or (0, length)
        reads = [
            blobs.read_range(source.file_blob, offset, size)
            for offset, size in ranges_within(stored, start, end)
        ]
        body = b"".join(await asyncio.gather(*reads))
        return _ranged_answer(body, part_content_type(rendition), wanted, length)
    frame = b"".join([piece async for piece in frame_bodies(blobs, source, rendition, [number])])
    if rendition.multipart:
        boundary = hashlib.sha256(frame).hexdigest()[:32]
        pieces = multipart_frames(once(frame), rendition, boundary)
        representation = b"".join([piece async for piece in pieces])
        content_type = multipart_type(rendition.media_type, boundary)
    else:
        representation, content_type = frame, part_content_type(rendition)
    wanted = byte_range(range_header, len(representation))
    start, end = wanted or (0, len(representation))
    return _ranged_answer(representation[start:end], content_type, wanted, len(representation))


def _as_stored(source: FrameSource, rendition: Rendition) -> bool:
    return rendition.transfer_syntax in (AS_STORED, source.syntax)


def _ranged_answer(
    body: bytes, content_type: str, wanted: tuple[int, int] | None, length: int
) -> Answer:
    status = 200 if wanted is None else 206
    headers = range_headers(wanted, length)
    return Answer(once(body), content_type, status=status, headers=headers)


async def frames_answer(
    blobs: BlobStore,
    source: FrameSource,
    found: list[Wish],
    numbers: list[int],
    range_header: str | None = None,
) -> Answer:
    """The frames in the best rendition the wishes allow; the first is read before returning.

    ``range_header`` is honoured when one frame is asked for; a list of frames is sent whole.
    """
    attributes = pixel_attributes(source.sidecar.metadata)
    rendition = frame_rendition(
        found,
        source.syntax,
        single_part=len(numbers) == 1,
        can_decode=can_decode,
        can_encode=lambda syntax: can_encode_from(syntax, attributes, source.syntax),
    )
    source = served_from(source, rendition)
    if range_header and len(numbers) == 1:
        return await ranged_frame(blobs, source, rendition, numbers[0], range_header)
    bodies = await primed(frame_bodies(blobs, source, rendition, numbers))
    headers = {"Accept-Ranges": "bytes"} if len(numbers) == 1 else {}
    if not rendition.multipart:
        return Answer(bodies, part_content_type(rendition), headers=headers)
    boundary = new_boundary()
    body = multipart_frames(bodies, rendition, boundary)
    return Answer(body, multipart_type(rendition.media_type, boundary), headers=headers)


async def retrieve_frames(
    clients: Clients,
    scope: Scope,
    frame_list: str,
    accept: str | None,
    range_header: str | None = None,
) -> Answer:
    numbers = parse_frame_list(frame_list)
    found = wishes(accept, "*/*")
    prefetch = _prefetch(clients.blobs, scope, numbers)
    try:
        (instance,) = await visible_instances(clients.index, scope)
    except BaseException:
        if prefetch is not None:
            prefetch.drop()
        raise
    if not scope.original:
        remember(instance)
    blobs = clients.blobs
    if prefetch is not None and prefetch.of(instance):
        blobs, sidecar = prefetch.blobs(blobs), prefetch.sidecar
    else:
        sidecar = await read_frame_view(blobs, instance)
    source = frame_source(sidecar, instance.file_blob, numbers)
    return await frames_answer(blobs, source, found, numbers, range_header)


def _prefetch(blobs: BlobStore, scope: Scope, numbers: list[int]) -> Prefetch | None:
    """The frames' stored bytes, read at once with the index look-up (``frame_prefetch``) when
    this process saw the instance's version and holds its sidecar."""
    ref = index_scope(scope)
    if scope.original or len(numbers) > FRAMES_AT_MOST or not isinstance(ref, InstanceRef):
        return None
    seen = last_seen(ref)
    sidecar = None if seen is None else cached_frame_view(seen)
    if seen is None or sidecar is None or sidecar.frames is None or sidecar.pixel_data is None:
        return None
    source = FrameSource(sidecar, seen.file_blob)
    if max(numbers) > source.count:
        return None
    return start(blobs, seen, sidecar, [r for n in numbers for r in source.stored_ranges(n)])
