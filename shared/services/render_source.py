"""What rendering one frame needs from storage: its attributes and its pixels, read sparingly.

The attributes come from the ingest sidecar's metadata. Those an enhanced multi-frame instance
keeps per frame (Pixel Value Transformation and Frame VOI LUT in the Shared and Per-frame
Functional Groups, PS3.3 C.7.6.16) are lifted to the top level for the frame asked, the per-frame
value winning, so that the rendering pipeline sees one flat data set. The pixels are the frame's
own byte ranges, decoded alone, so frame 17 of a 2,000-frame instance costs one ranged read.

Two things need more of the file. Lookup tables longer than the metadata keeps inline (palette
colour data, VOI and Modality LUT Sequences) are read from the file's header, the bytes before
its Pixel Data. Files whose frames have no byte ranges (deflated data sets, packed single-bit
pixels) are read and decoded whole, up to the size conversions are allowed.
"""

from __future__ import annotations

import io
from typing import Any

from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID, ExplicitVRLittleEndian

from shared.dicom.unreadable import UNDECODABLE, decoded
from shared.errors import NotAcceptable, NotFound
from shared.pixels.rendering import Frame
from shared.pixels.transcode import (
    MAX_TRANSCODE_BYTES,
    PIXEL_TAGS,
    can_decode,
    swap_binary_values,
)
from shared.services.frames import FrameSource, read_frame, read_native_frame
from shared.storage.blob_store import BlobStore
from shared.uid_index.sidecar import Sidecar

JsonDict = dict[str, Any]

# The pixel description, with the Modality LUT, VOI LUT and palette colour attributes (PS3.3
# C.11.1, C.11.2, C.7.9), by tag as DICOM JSON names them.
RENDERING_TAGS = PIXEL_TAGS | {
    "00281050",  # WindowCenter
    "00281051",  # WindowWidth
    "00281052",  # RescaleIntercept
    "00281053",  # RescaleSlope
    "00281054",  # RescaleType
    "00281056",  # VOILUTFunction
    "00281101",  # Red, Green and Blue Palette Color Lookup Table Descriptors
    "00281102",
    "00281103",
    "00281201",  # ... their Data
    "00281202",
    "00281203",
    "00281221",  # ... and their Segmented Data
    "00281222",
    "00281223",
    "00283000",  # ModalityLUTSequence
    "00283010",  # VOILUTSequence
}
SHARED_GROUPS, PER_FRAME_GROUPS = "52009229", "52009230"
FRAME_MACROS = ("00289145", "00289132")  # Pixel Value Transformation, Frame VOI LUT


def has_pixels(sidecar: Sidecar) -> bool:
    return sidecar.pixel_data is not None


async def load_frame(blobs: BlobStore, file_blob: str, sidecar: Sidecar, number: int) -> Frame:
    """Frame ``number`` (1-based) of the instance; 406 without pixel data, 404 past the end."""
    if not has_pixels(sidecar):
        raise NotAcceptable("the instance has no pixel data, so it has no image rendering")
    source = FrameSource(sidecar, file_blob)
    if number > source.count:
        raise NotFound("the requested frame is beyond the instance's number of frames")
    if not can_decode(sidecar.transfer_syntax_uid):
        raise NotAcceptable("the instance's transfer syntax cannot be decoded for rendering")
    flat, bulk_tags = frame_attributes(sidecar.metadata, number)
    if source.by_range:
        encapsulated = UID(sidecar.transfer_syntax_uid).is_encapsulated
        read = read_frame if encapsulated else read_native_frame
        data = await read(blobs, source, number)
        header = await _header(blobs, file_blob, sidecar) if bulk_tags else None
        return await decoded(UNDECODABLE, _decode_frame, data, sidecar, flat, bulk_tags, header)
    if sidecar.size > MAX_TRANSCODE_BYTES:
        raise NotAcceptable("the instance is too large to be rendered")
    whole = await blobs.read_range(file_blob, 0, sidecar.size)
    return await decoded(UNDECODABLE, _decode_from_file, whole, number, flat, bulk_tags)


def frame_attributes(metadata: JsonDict, number: int) -> tuple[JsonDict, set[str]]:
    """The rendering attributes of frame ``number`` as DICOM JSON, and the tags among them whose
    values the metadata holds only as bulk data (they are left out of the JSON)."""
    flat = {tag: metadata[tag] for tag in RENDERING_TAGS if tag in metadata}
    for macro in FRAME_MACROS:
        item = _group_item(metadata, PER_FRAME_GROUPS, number - 1, macro) or _group_item(
            metadata, SHARED_GROUPS, 0, macro
        )
        flat.update({tag: element for tag, element in item.items() if tag in RENDERING_TAGS})
    bulk = {tag for tag, element in flat.items() if _has_bulk(element)}
    return {tag: element for tag, element in flat.items() if tag not in bulk}, bulk


def _group_item(metadata: JsonDict, groups: str, index: int, macro: str) -> JsonDict:
    items = metadata.get(groups, {}).get("Value") or []
    if index >= len(items):
        return {}
    found = (items[index].get(macro, {}).get("Value") or [{}])[0]
    return found if isinstance(found, dict) else {}


def _has_bulk(element: JsonDict) -> bool:
    if "BulkDataURI" in element:
        return True
    items = element.get("Value") or [] if element.get("vr") == "SQ" else []
    return any(_has_bulk(e) for item in items for e in item.values())


async def _header(blobs: BlobStore, file_blob: str, sidecar: Sidecar) -> bytes:
    """The stored file up to its Pixel Data: every attribute, no pixels."""
    assert sidecar.pixel_data is not None
    end = sidecar.pixel_data.get("offset")
    return await blobs.read_range(file_blob, 0, int(end) if end is not None else sidecar.size)


def _attributes(flat: JsonDict, bulk_tags: set[str], file: bytes | None, syntax: UID) -> Dataset:
    """The rendering attributes with every binary value (lookup tables) little endian.

    Binary values, inline in the metadata or read from the file, are in the file's byte order.
    """
    attributes = Dataset.from_json(flat)
    if bulk_tags and file is not None:
        parsed = dcmread(io.BytesIO(file), stop_before_pixels=True)
        for tag in bulk_tags:
            if int(tag, 16) in parsed:
                attributes[int(tag, 16)] = parsed[int(tag, 16)]
    if not syntax.is_little_endian:
        swap_binary_values(attributes)
    attributes.set_original_encoding(False, True)
    return attributes


def _decode_frame(
    data: bytes, sidecar: Sidecar, flat: JsonDict, bulk_tags: set[str], header: bytes | None
) -> Frame:
    syntax = UID(sidecar.transfer_syntax_uid)
    attributes = _attributes(flat, bulk_tags, header, syntax)
    ds = Dataset()
    ds.update(attributes)
    ds.NumberOfFrames = 1
    if syntax.is_encapsulated:
        ds.PixelData = encapsulate([data])
    else:  # native frames arrive little endian (see shared.services.frames.read_native_frame)
        syntax = ExplicitVRLittleEndian
        ds.PixelData = data
    ds["PixelData"].VR = "OB"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.set_original_encoding(False, True)
    return _decoded(ds, syntax, 0, attributes)


def _decode_from_file(whole: bytes, number: int, flat: JsonDict, bulk_tags: set[str]) -> Frame:
    ds = dcmread(io.BytesIO(whole))
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    return _decoded(ds, syntax, number - 1, _attributes(flat, bulk_tags, whole, syntax))


def _decoded(ds: Dataset, syntax: UID, index: int, attributes: Dataset) -> Frame:
    # YBR stays YBR, so that the renderer converts it itself and knows what it was given.
    options: dict[str, Any] = {"as_rgb": False}
    pixels, meta = get_decoder(syntax).as_array(ds, index=index, **options)
    return Frame(pixels, str(meta["photometric_interpretation"]), attributes)
