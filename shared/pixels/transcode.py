"""Converting stored instances and frames to the transfer syntax a client asked for.

Decoding and encoding are pydicom's, with the pylibjpeg plugins (libjpeg, openjpeg, rle) for
JPEG, JPEG-LS, JPEG 2000 and RLE; what they cannot decode is refused up front (406) rather than
failing in the middle of a response. ``convert`` works on a whole file in memory, so it is
limited to files of ``MAX_TRANSCODE_BYTES``; it serves files whose frames have no byte ranges,
while the others are converted frame by frame (``shared.services.frame_transcode``). A single frame
is decoded on its own.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from pydicom import Dataset, dcmread, dcmwrite
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import pack_bits
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from shared.dicom.transfer_syntaxes import (
    AS_STORED,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
)
from shared.dicom.unreadable import UNDECODABLE, carry_unreadable_as_un
from shared.errors import NotAcceptable
from shared.pixels.encoders import ENCODINGS, encode_pixel_data

MAX_TRANSCODE_BYTES = 512 * 1024 * 1024
"""The largest file ``convert`` takes (it is held in memory a few times)."""

TARGET_SYNTAXES = frozenset(
    {EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, DeflatedExplicitVRLittleEndian}
    | ENCODINGS.keys()
)

# Binary VRs whose values pydicom keeps as raw bytes: their byte order is the file's.
WORD_SIZES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
_PIXEL_DATA = 0x7FE00010


def can_decode(syntax: str) -> bool:
    """Whether pixel data in ``syntax`` can be decompressed here (native syntaxes need not be)."""
    try:
        uid = UID(syntax)
        if not uid.is_transfer_syntax:
            return False
        return not uid.is_encapsulated or get_decoder(uid).is_available
    except (ValueError, NotImplementedError):
        return False


def can_convert(source: str, target: str) -> bool:
    """Whether an instance stored in ``source`` can be given in ``target``."""
    if target in (AS_STORED, source):
        return True
    return target in TARGET_SYNTAXES and can_decode(source)


def convert(data: bytes, target: str) -> bytes:
    """The Part 10 file ``data`` re-encoded in ``target`` (checked with ``can_convert``)."""
    ds = dcmread(io.BytesIO(data))
    source = UID(str(ds.file_meta.TransferSyntaxUID))
    if source == target:
        return data
    make_writable(ds)
    has_pixels = _PIXEL_DATA in ds
    if has_pixels and (source.is_compressed or not source.is_little_endian):
        _decompress(ds, source)
    if not source.is_little_endian:
        swap_binary_values(ds)
    if has_pixels and UID(target).is_compressed:
        encode_pixel_data(ds, UID(target))
    else:
        ds.file_meta.TransferSyntaxUID = UID(target)
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def make_writable(ds: Dataset) -> None:
    """Ready a data set read from a stored file to be written in another transfer syntax: told
    the encoding it was read in, and each element pydicom cannot convert carried as UN."""
    _record_encoding_read(ds)
    carry_unreadable_as_un(ds)


def _record_encoding_read(ds: Dataset) -> None:
    """Make the data set say which encoding its elements were read in.

    A file whose data set is implicit VR although its transfer syntax says explicit is read by
    pydicom (it warns and falls back), but the data set still claims the syntax's encoding, so
    the writer would copy its raw elements, which have no VR, into an explicit VR file and fail.
    Told the truth, the writer converts every element, looking its VR up in the dictionary.
    """
    first = next(iter(ds.keys()), None)
    if first is None:
        return
    element = ds.get_item(first)
    if isinstance(element, RawDataElement) and element.is_implicit_VR != ds.original_encoding[0]:
        ds.set_original_encoding(
            element.is_implicit_VR, element.is_little_endian, ds.original_character_set
        )


def _decompress(ds: Dataset, source: UID) -> None:
    """Pixel data as native little endian; colour JPEG comes out as RGB, as pydicom decodes it."""
    if source.is_compressed:
        ds.decompress(generate_instance_uid=False)
        return
    ds.PixelData = _native_bytes(ds.pixel_array, int(ds.BitsAllocated))
    ds["PixelData"].VR = "OB" if int(ds.BitsAllocated) <= 8 else "OW"
    if "PlanarConfiguration" in ds:
        ds.PlanarConfiguration = 0  # pydicom's pixel arrays are colour-by-pixel


def _native_bytes(pixels: np.ndarray, bits_allocated: int) -> bytes:
    """Decoded pixels as native pixel data: little endian, single bits packed (PS3.5 8.1.1)."""
    if bits_allocated == 1:
        return bytes(pack_bits(pixels))
    return bytes(pixels.astype(pixels.dtype.newbyteorder("<")).tobytes())


def swap_binary_values(ds: Dataset) -> None:
    """Big endian OW/OF/OL/OD/OV values other than pixel data, turned little endian in place."""
    for element in ds.iterall():
        size = WORD_SIZES.get(element.VR)
        if size and element.tag != _PIXEL_DATA and isinstance(element.value, bytes):
            element.value = swap_words(element.value, size)


def swap_words(data: bytes, size: int) -> bytes:
    """Reverse the byte order of every ``size``-byte word (a trailing odd byte stays)."""
    whole = len(data) - len(data) % size
    words = np.frombuffer(data[:whole], dtype=f">u{size}").astype(f"<u{size}")
    return words.tobytes() + data[whole:]


def native_word_size(metadata: dict[str, Any], bits_allocated: int) -> int:
    """The unit a big endian file's native Pixel Data is byte-swapped in: 8-bit pixels in OW are
    swapped in pairs (PS3.5 Annex A.3), wider ones by their own size, OB not at all."""
    if bits_allocated > 8:
        return bits_allocated // 8
    return 2 if metadata.get("7FE00010", {}).get("vr") == "OW" else 1


# The Image Pixel attributes a frame decoder needs (PS3.3 C.7.6.3), by tag as DICOM JSON names them.
PIXEL_TAGS = frozenset(
    {
        "00280002",  # SamplesPerPixel
        "00280004",  # PhotometricInterpretation
        "00280006",  # PlanarConfiguration
        "00280010",  # Rows
        "00280011",  # Columns
        "00280100",  # BitsAllocated
        "00280101",  # BitsStored
        "00280102",  # HighBit
        "00280103",  # PixelRepresentation
    }
)


def pixel_attributes(metadata: dict[str, Any]) -> Dataset:
    """The attributes a frame decoder needs, from an instance's DICOM JSON.

    v2 stores instances whose Image Pixel attributes are malformed (kept as text in the
    metadata); such pixels cannot be decoded or converted, which is a 406 like any other."""
    try:
        return Dataset.from_json({tag: metadata[tag] for tag in PIXEL_TAGS if tag in metadata})
    except (ValueError, TypeError, OverflowError) as exc:
        raise NotAcceptable(UNDECODABLE) from exc


def decode_frame(frame: bytes, syntax: str, attributes: Dataset) -> bytes:
    """One compressed frame as uncompressed little endian pixel data."""
    ds = Dataset()
    ds.update(attributes)
    ds.NumberOfFrames = 1
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds.set_original_encoding(False, True)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    return _native_bytes(ds.pixel_array, int(ds.BitsAllocated))


def frames_of_file(data: bytes, numbers: list[int]) -> list[bytes]:
    """Frames (1-based) of a file whose frames cannot be read by range, uncompressed.

    Deflated data sets and packed single-bit pixel data land here: the file is decoded whole.
    """
    ds = dcmread(io.BytesIO(data))
    pixels = ds.pixel_array
    frames = pixels if int(ds.get("NumberOfFrames") or 1) > 1 else pixels[np.newaxis]
    return [_native_bytes(frames[number - 1], int(ds.BitsAllocated)) for number in numbers]
