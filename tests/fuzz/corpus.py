"""Real DICOM files from pydicom's test data and hypothesis strategies that damage them.

Each file is re-identified once with placeholder UIDs of a fixed length, so that an example gets
fresh UIDs by a byte replacement that moves no offset: damage aimed at an element header (its
VR, its length, its value) still lands where the header is. The deflated file's UIDs sit inside
its compressed stream and cannot be replaced; its examples all share one instance.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache

from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from shared.dicom.attributes import (
    INSTANCE_ATTRIBUTES,
    REQUIRED_UIDS,
    SERIES_ATTRIBUTES,
    STUDY_ATTRIBUTES,
)
from shared.pixels.transcode import PIXEL_TAGS
from tests.data.builders import corpus_path

NAMES = (
    "CT_small.dcm",  # explicit VR little endian, one frame
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "image_dfl.dcm",  # deflated
    "rtplan.dcm",  # no pixel data, nested sequences
    "emri_small.dcm",  # ten native frames
    "JPEG-LL.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "MR_small_RLE.dcm",
    "SC_rgb_rle_32bit_2frame.dcm",
)

_SERIAL_DIGITS = 38
_PLACEHOLDER = 10 ** (_SERIAL_DIGITS - 1)
ROLES = {"study": "1", "series": "2", "sop": "3"}


def uid(serial: int, role: str) -> str:
    """The UID of one role for an example's serial number; always 45 characters long."""
    return f"2.25.{_PLACEHOLDER + serial}{ROLES[role]}"


@dataclass(frozen=True)
class Header:
    """Where one top-level element's header and value lie in the file."""

    tag: int
    offset: int
    vr_offset: int | None
    length_offset: int
    length_size: int
    value_offset: int
    value_length: int


@dataclass(frozen=True)
class BaseFile:
    name: str
    data: bytes
    headers: tuple[Header, ...]
    deflated: bool

    @property
    def key_headers(self) -> tuple[Header, ...]:
        return tuple(header for header in self.headers if header.tag in KEY_TAGS)

    def with_uids(self, serial: int) -> bytes:
        data = self.data
        for role in ROLES:
            data = data.replace(uid(0, role).encode(), uid(serial, role).encode())
        return data


def _headers(data: bytes) -> tuple[Header, ...]:
    ds = dcmread(io.BytesIO(data), defer_size=None)
    implicit = ds.original_encoding[0]
    found = []
    for element in ds.values():
        if not isinstance(element, RawDataElement):
            continue
        tell = element.value_tell
        if implicit:
            header = Header(element.tag, tell - 8, None, tell - 4, 4, tell, element.length)
        elif element.VR in EXPLICIT_VR_LENGTH_32:
            header = Header(element.tag, tell - 12, tell - 8, tell - 4, 4, tell, element.length)
        else:
            header = Header(element.tag, tell - 8, tell - 4, tell - 2, 2, tell, element.length)
        found.append(header)
    return tuple(found)


@cache
def base_files() -> tuple[BaseFile, ...]:
    files = []
    for name in NAMES:
        ds = dcmread(corpus_path(name))
        ds.StudyInstanceUID = uid(0, "study")
        ds.SeriesInstanceUID = uid(0, "series")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid(0, "sop")
        buffer = io.BytesIO()
        ds.save_as(buffer)
        data = buffer.getvalue()
        deflated = ds.file_meta.TransferSyntaxUID.is_deflated
        files.append(BaseFile(name, data, () if deflated else _headers(data), deflated))
    return tuple(files)


KEY_TAGS = frozenset(
    tag_for_keyword(keyword)
    for keyword in (
        *REQUIRED_UIDS,
        *STUDY_ATTRIBUTES,
        *SERIES_ATTRIBUTES,
        *INSTANCE_ATTRIBUTES,
        *(keyword_for_tag(int(tag, 16)) for tag in PIXEL_TAGS),
        "TransferSyntaxUID",
        "SpecificCharacterSet",
        "PixelData",
    )
)
"""What the service reads itself: identity, index, pixel description; damage aimed here half
the time, since an element picked at random is most often one nothing reads."""

# VRs of PS3.5 and some it does not define; the lengths PS3.5 forbids or pydicom finds hard.
_VRS = (b"AE", b"CS", b"DA", b"DS", b"IS", b"OB", b"OW", b"PN", b"SQ", b"UI", b"UL", b"UN", b"US")
_BAD_VRS = (b"ZZ", b"\0\0", b"un", b"  ", b"\xff\xff")
_LENGTHS = (0, 1, 3, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF)


@st.composite
def mutated_file(draw: st.DrawFn) -> tuple[bytes, str]:
    """A base file with fresh UIDs and a few kinds of damage; returns the bytes and the file's
    name (to tell in a failure which file it was)."""
    base = draw(st.sampled_from(base_files()))
    # Small serials repeat across examples: stores of an existing instance, PUT over it.
    serial = draw(st.integers(9, _PLACEHOLDER * 9 - 1))
    if draw(st.integers(0, 4)) == 0:
        serial = draw(st.integers(1, 8))
    data = bytearray(base.with_uids(serial))
    # Mostly one kind of damage at a time, so that a damaged file gets past the first check.
    for _ in range(draw(st.sampled_from((0, 1, 1, 2, 3))) if base.headers else 0):
        headers = (base.key_headers or base.headers) if draw(st.booleans()) else base.headers
        _damage_element(draw, data, draw(st.sampled_from(headers)))
    for _ in range(draw(st.sampled_from((0, 0, 0, 1, 2)))):
        data = _damage_bytes(draw, data)
    return bytes(data), base.name


def _damage_element(draw: st.DrawFn, data: bytearray, header: Header) -> None:
    """In place, so other headers keep their offsets: a VR, a length or a value replaced."""
    kind = draw(st.sampled_from(("vr", "length", "value")))
    if kind == "vr" and header.vr_offset is not None:
        vr = draw(st.one_of(st.sampled_from(_VRS), st.sampled_from(_BAD_VRS)))
        data[header.vr_offset : header.vr_offset + 2] = vr
    elif kind == "length":
        length = draw(st.one_of(st.sampled_from(_LENGTHS), st.integers(0, 2**32 - 1)))
        length %= 2 ** (8 * header.length_size)
        data[header.length_offset : header.length_offset + header.length_size] = length.to_bytes(
            header.length_size, "little"
        )
    elif header.value_length and header.value_length <= 256:
        size = header.value_length
        value = draw(
            st.one_of(
                st.binary(min_size=size, max_size=size),
                st.text(st.characters(codec="latin-1"), min_size=size, max_size=size).map(
                    lambda text: text.encode("latin-1")
                ),
            )
        )
        data[header.value_offset : header.value_offset + size] = value


def _damage_bytes(draw: st.DrawFn, data: bytearray) -> bytearray:
    """Truncation, a flipped byte, bytes inserted or cut out; mostly in the data set's head."""
    if not data:
        return data
    head = min(len(data), 4096)
    at = draw(st.one_of(st.integers(0, head - 1), st.integers(0, len(data) - 1)))
    kind = draw(st.sampled_from(("truncate", "flip", "insert", "cut")))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        data[at] ^= draw(st.integers(1, 255))
        return data
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    return data[:at] + data[at + draw(st.integers(1, 64)) :]
