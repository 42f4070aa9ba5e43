"""Converting an instance to another transfer syntax frame by frame, as a stream.

A file whose frames have byte ranges (see ``shared.services.frames``) need not be held in memory to
be converted: its data set up to Pixel Data is read and re-encoded by pydicom, then each frame is
read by range, decoded and encoded on its own (a few ahead, as frames are served) and written
as it comes, then the elements after Pixel Data. Memory stays a few frames, whatever the file's
size, and the first bytes go out after the first frame is converted.

The output is what ``shared.pixels.transcode.convert`` writes, but for two things known only once
every frame is encoded: an encapsulated answer's Basic Offset Table is empty (PS3.5 A.4 allows it),
and a lossy answer's Lossy Image Compression Ratio is the first frame's.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import AsyncIterator

from pydicom import Dataset, dcmread
from pydicom.dataset import validate_file_meta
from pydicom.encaps import itemize_frame
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.tag import ItemTag, SequenceDelimiterTag, Tag
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from shared.dicom.unreadable import UNCONVERTIBLE, carry_unreadable_as_un, decoded
from shared.errors import NotAcceptable
from shared.pixels.encoders import ENCODINGS, PixelFormat, decoded_attributes, describe_encoding
from shared.pixels.transcode import make_writable, pixel_attributes, swap_binary_values
from shared.services.frames import FrameSource, frame_bodies
from shared.storage.blob_store import BlobStore
from shared.web.negotiation import Rendition

PIXEL_DATA = Tag(0x7FE0, 0x0010)
# The Extended Offset Table and its lengths describe the stored fragments, not the answer's.
_STORED_LAYOUT = (Tag(0x7FE0, 0x0001), Tag(0x7FE0, 0x0002))
_UNDEFINED_LENGTH = 0xFFFFFFFF
_SEQUENCE_DELIMITER_LENGTH = 8


def can_convert_by_frame(source: FrameSource) -> bool:
    """Whether the file's frames can be read one by one: they have byte ranges, in Pixel Data."""
    pixel = source.sidecar.pixel_data
    return source.by_range and pixel is not None and pixel.get("tag") == "7FE00010"


async def converted_by_frame(
    blobs: BlobStore, source: FrameSource, target: str
) -> AsyncIterator[bytes]:
    """The Part 10 file of ``source`` in ``target`` (checked with ``can_convert_by_frame`` and
    ``shared.pixels.transcode.can_convert``), piece by piece: header, then one frame at a time."""
    async for piece in _pieces(blobs, source, UID(target)):
        if piece:
            yield piece


async def _pieces(blobs: BlobStore, source: FrameSource, syntax: UID) -> AsyncIterator[bytes]:
    stored = UID(source.sidecar.transfer_syntax_uid)
    try:
        fmt = PixelFormat.of(decoded_attributes(pixel_attributes(source.sidecar.metadata), stored))
    except ValueError:
        # Image Pixel attributes kept as v2 stored them, but not usable: a 406, as for a file
        # converted whole.
        raise NotAcceptable(UNCONVERTIBLE) from None
    rendition = Rendition(False, "application/octet-stream", syntax)
    frames = frame_bodies(blobs, source, rendition, list(range(1, source.count + 1)))
    try:
        first = await anext(frames)
        ds, tail = await _data_sets(blobs, source)
        ratio = fmt.frame_bytes / max(len(first), 1)
        # As for a whole file: attributes that cannot be written in the answer's syntax (a
        # number string of other characters, say) make the conversion a 406, not a 500.
        meta, head = await decoded(UNCONVERTIBLE, _described_head, ds, source, syntax, fmt, ratio)
        yield meta
        body = _Body(syntax)
        yield body.encode(head + _pixel_data_header(syntax, fmt, source.count, ds))
        yield body.encode(_pixel_data_piece(syntax, fmt, first))
        async for frame in frames:
            yield body.encode(_pixel_data_piece(syntax, fmt, frame))
        yield body.encode(_pixel_data_end(syntax, fmt, source.count) + _tail(tail, syntax))
        yield body.finish()
    finally:
        await frames.aclose()


async def _data_sets(blobs: BlobStore, source: FrameSource) -> tuple[Dataset, Dataset]:
    """The stored data set before Pixel Data (with its File Meta Information) and after it."""
    sidecar = source.sidecar
    assert sidecar.pixel_data is not None and sidecar.frames is not None
    value_offset = int(sidecar.pixel_data["offset"])
    head = await blobs.read_range(source.file_blob, 0, value_offset)
    ds = dcmread(io.BytesIO(head), stop_before_pixels=True)
    if sidecar.pixel_data.get("encapsulated"):
        offset, length = sidecar.frames[-1][-1]
        end = int(offset) + int(length) + _SEQUENCE_DELIMITER_LENGTH
    else:
        end = value_offset + int(sidecar.pixel_data["length"])
    tail = Dataset()
    if end < sidecar.size:
        stored = UID(sidecar.transfer_syntax_uid)
        data = await blobs.read_range(source.file_blob, end, sidecar.size - end)
        tail = read_dataset(io.BytesIO(data), stored.is_implicit_VR, stored.is_little_endian)
    return ds, tail


def _described_head(
    ds: Dataset, source: FrameSource, syntax: UID, fmt: PixelFormat, ratio: float
) -> tuple[bytes, bytes]:
    _describe_pixels(ds, source, syntax, fmt, ratio)
    return _head(ds, syntax)


def _describe_pixels(
    ds: Dataset, source: FrameSource, syntax: UID, fmt: PixelFormat, ratio: float
) -> None:
    """The head's attributes made to describe the answer's pixels, as ``convert`` makes them."""
    stored = UID(source.sidecar.transfer_syntax_uid)
    make_writable(ds)
    if not stored.is_little_endian:
        swap_binary_values(ds)
    for tag in _STORED_LAYOUT:
        ds.pop(tag, None)
    ds.update(decoded_attributes(pixel_attributes(source.sidecar.metadata), stored))
    if syntax in ENCODINGS:
        describe_encoding(ds, syntax, fmt, ratio)
    else:
        ds.file_meta.TransferSyntaxUID = syntax


def _head(ds: Dataset, syntax: UID) -> tuple[bytes, bytes]:
    """The preamble and File Meta Information, and the data set up to Pixel Data, as pydicom's
    writer lays them out (the data set is deflated by the caller when ``syntax`` says so)."""
    validate_file_meta(ds.file_meta, enforce_standard=True)
    meta = DicomBytesIO()
    meta.write(getattr(ds, "preamble", None) or b"\0" * 128)
    meta.write(b"DICM")
    write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
    head = _writer(syntax)
    write_dataset(head, ds)
    return meta.getvalue(), head.getvalue()


def _writer(syntax: UID) -> DicomBytesIO:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = syntax == ImplicitVRLittleEndian
    return fp


def _pixel_data_length(fmt: PixelFormat, count: int) -> int:
    """Native Pixel Data's value length: every frame, padded to even (PS3.5 7.1.1)."""
    length = fmt.frame_bytes * count
    return length + length % 2


def _pixel_data_header(syntax: UID, fmt: PixelFormat, count: int, ds: Dataset) -> bytes:
    """Pixel Data's element header (PS3.5 7.1): OB of undefined length with an empty Basic
    Offset Table item when encapsulated, else of the frames' length, OB or OW by sample size."""
    fp = _writer(syntax)
    fp.write_tag(PIXEL_DATA)
    if not fp.is_implicit_VR:
        fp.write(b"OB" if syntax.is_encapsulated or int(ds.BitsAllocated) <= 8 else b"OW")
        fp.write_US(0)
    if syntax.is_encapsulated:
        fp.write_UL(_UNDEFINED_LENGTH)
        fp.write_tag(ItemTag)  # the Basic Offset Table, empty
        fp.write_UL(0)
    else:
        fp.write_UL(_pixel_data_length(fmt, count))
    return fp.getvalue()


def _pixel_data_piece(syntax: UID, fmt: PixelFormat, frame: bytes) -> bytes:
    """One frame as written in Pixel Data: an item (one fragment) when encapsulated."""
    if syntax.is_encapsulated:
        return b"".join(itemize_frame(frame))
    if len(frame) != fmt.frame_bytes:
        raise ValueError("a decoded frame is not of the size its Image Pixel attributes give")
    return frame


def _pixel_data_end(syntax: UID, fmt: PixelFormat, count: int) -> bytes:
    """The Sequence Delimitation Item of encapsulated Pixel Data, or native data's pad byte."""
    if not syntax.is_encapsulated:
        return b"\0" * (_pixel_data_length(fmt, count) - fmt.frame_bytes * count)
    fp = _writer(syntax)
    fp.write_tag(SequenceDelimiterTag)
    fp.write_UL(0)
    return fp.getvalue()


def _tail(tail: Dataset, syntax: UID) -> bytes:
    """The elements after Pixel Data (Data Set Trailing Padding, ...), little endian."""
    if not tail:
        return b""
    carry_unreadable_as_un(tail)
    if not tail.original_encoding[1]:
        swap_binary_values(tail)
    fp = _writer(syntax)
    write_dataset(fp, tail)
    return fp.getvalue()


class _Body:
    """The data set's bytes as they go out: deflated in one stream for Deflated Explicit VR
    Little Endian (PS3.5 A.5, padded to even as pydicom pads it), else unchanged. A deflated
    piece may be empty (zlib holds the input back)."""

    def __init__(self, syntax: UID) -> None:
        self._deflater = (
            zlib.compressobj(wbits=-zlib.MAX_WBITS)
            if syntax == DeflatedExplicitVRLittleEndian
            else None
        )
        self._written = 0

    def encode(self, data: bytes) -> bytes:
        out = self._deflater.compress(data) if self._deflater else data
        self._written += len(out)
        return out

    def finish(self) -> bytes:
        if self._deflater is None:
            return b""
        out = self._deflater.flush()
        self._written += len(out)
        return out + b"\0" * (self._written % 2)
