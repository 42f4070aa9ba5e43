"""Retrieve bulk data (PS3.18 §10.4.1.1.5): the values the metadata hands out as BulkDataURIs.

Only paths the sidecar lists as bulk data are served. Native top-level Pixel Data is read from
blob storage by byte range, so an HTTP ``Range`` costs a ranged read of the same size.
Encapsulated Pixel Data is served as its frames (see ``shared.services.frames``), and so is native
Pixel Data asked for in a compressed syntax (``image/jls``, ...), each frame encoded. Any other
value is found by parsing the stored file up to its Pixel Data; values of big endian files are
turned little endian unless ``transfer-syntax=*`` asks for them as stored.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from pydicom import Dataset, dcmread
from pydicom.uid import UID

from shared.clients import Clients
from shared.dicom.transfer_syntaxes import EXPLICIT_VR_LITTLE_ENDIAN
from shared.errors import NotAcceptable, NotFound
from shared.pixels.encoders import ENCODINGS, can_encode_from
from shared.pixels.transcode import (
    WORD_SIZES,
    can_decode,
    native_word_size,
    pixel_attributes,
    swap_words,
)
from shared.services.frames import frame_source, frames_answer, part_content_type
from shared.services.retrieve_scope import Scope, read_sidecar, visible_instances
from shared.storage.blob_store import BlobStore
from shared.uid_index.index import StoredInstance
from shared.uid_index.sidecar import Sidecar, bulk_data_path
from shared.web.byte_ranges import byte_range, range_headers
from shared.web.multipart import new_boundary, write_parts
from shared.web.negotiation import Wish, frame_rendition, wishes
from shared.web.streaming import Answer, multipart_type, primed, single_part

PIXEL_DATA = "7FE00010"
# Item indexes of at most 9 digits: more than any sequence holds, and cheap to convert.
_PATH = re.compile(r"[0-9A-F]{8}(/[0-9]{1,9}/[0-9A-F]{8})*")


def bulk_element(sidecar: Sidecar, path: str) -> dict[str, Any]:
    """The metadata element whose BulkDataURI is ``path``; 404 for anything else."""
    path = path.upper()
    if not _PATH.fullmatch(path):
        raise NotFound("no bulk data at this path")
    steps = path.split("/")
    dataset: dict[str, Any] = sidecar.metadata
    for tag, index in zip(steps[::2], steps[1::2], strict=False):
        items = dataset.get(tag, {}).get("Value") or []
        if int(index) >= len(items):
            raise NotFound("no bulk data at this path")
        dataset = items[int(index)]
    element = dataset.get(steps[-1], {})
    if element.get("BulkDataURI") != bulk_data_path(path):
        raise NotFound("no bulk data at this path")
    return dict(element)


def is_encapsulated_pixel_data(sidecar: Sidecar, path: str) -> bool:
    pixel = sidecar.pixel_data
    return path.upper() == PIXEL_DATA and pixel is not None and bool(pixel.get("encapsulated"))


@dataclass(frozen=True)
class BulkValue:
    """A value to send, of known length, read in pieces from ``start`` to ``end`` (exclusive)."""

    length: int
    read: Callable[[int, int], AsyncIterator[bytes]]


def _in_memory(data: bytes) -> BulkValue:
    async def read(start: int, end: int) -> AsyncIterator[bytes]:
        yield data[start:end]

    return BulkValue(len(data), read)


def _in_blob(blobs: BlobStore, name: str, offset: int, length: int) -> BulkValue:
    return BulkValue(length, lambda start, end: blobs.chunks(name, offset + start, end - start))


async def bulk_value(
    blobs: BlobStore, instance: StoredInstance, sidecar: Sidecar, path: str, syntax: str
) -> BulkValue:
    """The value at ``path`` (not encapsulated Pixel Data) in ``syntax``, as stored or LE."""
    element = bulk_element(sidecar, path)
    stored = UID(sidecar.transfer_syntax_uid)
    swap = UID(syntax).is_little_endian and not stored.is_little_endian
    pixel = sidecar.pixel_data
    if path.upper() == PIXEL_DATA and pixel and pixel.get("offset") is not None:
        offset, length = int(pixel["offset"]), int(pixel["length"])
        if not swap:
            return _in_blob(blobs, instance.file_blob, offset, length)
        data = await blobs.read_range(instance.file_blob, offset, length)
        bits = int(pixel_attributes(sidecar.metadata).BitsAllocated)
        return _in_memory(swap_words(data, native_word_size(sidecar.metadata, bits)))
    head_end = int(pixel["offset"]) if pixel and pixel.get("offset") is not None else sidecar.size
    head = await blobs.read_range(instance.file_blob, 0, head_end)
    value = await asyncio.to_thread(_value_in_file, head, path)
    size = WORD_SIZES.get(str(element.get("vr")))
    if swap and size:
        value = swap_words(value, size)
    return _in_memory(value)


def _value_in_file(head: bytes, path: str) -> bytes:
    ds: Dataset = dcmread(io.BytesIO(head), stop_before_pixels=path.upper() != PIXEL_DATA)
    steps = path.upper().split("/")
    for tag, index in zip(steps[::2], steps[1::2], strict=False):
        ds = ds[int(tag, 16)].value[int(index)]
    value = ds.get_item(int(steps[-1], 16)).value
    if not isinstance(value, bytes):
        raise NotFound("no bulk data at this path")
    return value


def _asks_for_encoded_pixels(found: list[Wish], sidecar: Sidecar, path: str) -> bool:
    """Whether native Pixel Data is best given in a compressed syntax: then it is its frames."""
    if path.upper() != PIXEL_DATA or sidecar.pixel_data is None:
        return False
    attributes = pixel_attributes(sidecar.metadata)
    try:
        rendition = frame_rendition(
            found,
            native_syntax(sidecar),
            single_part=True,
            can_decode=can_decode,
            can_encode=lambda syntax: can_encode_from(
                syntax, attributes, sidecar.transfer_syntax_uid
            ),
        )
    except NotAcceptable:
        return False
    return rendition.transfer_syntax in ENCODINGS


def native_syntax(sidecar: Sidecar) -> str:
    """The syntax a value other than encapsulated Pixel Data is stored in."""
    stored = UID(sidecar.transfer_syntax_uid)
    return EXPLICIT_VR_LITTLE_ENDIAN if stored.is_encapsulated else stored


async def retrieve_bulk_data(
    clients: Clients, scope: Scope, path: str, accept: str | None, range_header: str | None
) -> Answer:
    found = wishes(accept, "*/*")
    (instance,) = await visible_instances(clients.index, scope)
    sidecar = await read_sidecar(clients.blobs, instance)
    bulk_element(sidecar, path)
    if is_encapsulated_pixel_data(sidecar, path) or _asks_for_encoded_pixels(found, sidecar, path):
        source = frame_source(sidecar, instance.file_blob, [1])
        numbers = list(range(1, source.count + 1))
        return await frames_answer(clients.blobs, source, found, numbers, range_header)
    rendition = frame_rendition(
        found, native_syntax(sidecar), single_part=True, can_decode=can_decode
    )
    value = await bulk_value(clients.blobs, instance, sidecar, path, rendition.transfer_syntax)
    content_type = part_content_type(rendition)
    if rendition.multipart:
        boundary = new_boundary()
        body = await primed(value.read(0, value.length))
        parts = write_parts(single_part(content_type, body), boundary)
        return Answer(parts, multipart_type(rendition.media_type, boundary))
    wanted = byte_range(range_header, value.length)
    start, end = wanted or (0, value.length)
    headers = range_headers(wanted, value.length)
    body = await primed(value.read(start, end))
    return Answer(body, content_type, status=200 if wanted is None else 206, headers=headers)
