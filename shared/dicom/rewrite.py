"""A stored file's head with a bulk update's change applied, encoded as the file was.

A bulk update changes patient and study attributes only, which all come before the pixel data,
so only a file's head (its bytes up to the pixel data element) is read, changed and encoded
again; the pixel data and whatever follows it are copied byte for byte. Elements that are not
changed are written as they were read (pydicom writes undecoded values back unchanged), in the
file's own transfer syntax, except group lengths (retired), which are left out, as they would be
wrong once a value's length changes. A file without pixel data, or with a deflated data set, is
its own head.
"""

from __future__ import annotations

import struct
from io import BytesIO

import pydicom
from pydicom.dataset import Dataset

from shared.dicom.change_dataset import ChangeDataset

UNICODE = "ISO_IR 192"


class WholeFileNeeded(Exception):
    """The head cannot be encoded again apart from the rest of the file (see ``changed_head``)."""


def pixel_data_start(head: bytes, tag: int, *, big_endian: bool) -> int | None:
    """Where the pixel data element (its tag) starts, given the file's bytes up to where its
    value starts: Pixel Data's VRs (OB, OW, OF, OD) have a 12-byte header in explicit VR, 8
    bytes in implicit VR (some files are encoded so whatever their transfer syntax says). None
    when neither holds the tag."""
    order = ">" if big_endian else "<"
    expected = struct.pack(f"{order}HH", tag >> 16, tag & 0xFFFF)
    for header in (12, 8):
        at = len(head) - header
        if at >= 0 and head[at : at + 4] == expected:
            return at
    return None


def changed_head(head: bytes, change: ChangeDataset, *, whole: bool) -> bytes:
    """``head`` (a Part 10 file up to, not including, its pixel data; or the ``whole`` file)
    with ``change`` applied.

    Values outside ASCII that the file's character set may not hold switch the file to UTF-8:
    every text value is decoded first, so each is written again in the new character set. A
    data set encoded in implicit VR under an explicit VR transfer syntax (pydicom reads it as
    it is encoded) is written as its transfer syntax says, each element with its dictionary
    VR; that needs the whole file (``WholeFileNeeded``), so that no part of it stays implicit.
    """
    ds = pydicom.dcmread(BytesIO(head))
    if any(ds.get_item(tag).VR is None for tag in sorted(ds.keys())):
        if not whole:
            raise WholeFileNeeded
        ds.walk(lambda *_: None)
    if change.needs_unicode and _character_set(ds) != UNICODE:
        ds.decode()
        ds.SpecificCharacterSet = UNICODE
    for tag in change.tags:
        element = change.dataset[tag]
        ds.add_new(tag, element.VR, element.value)
    out = BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def _character_set(ds: Dataset) -> str:
    value = ds.get("SpecificCharacterSet")
    if value is None:
        return ""
    return "\\".join(value) if isinstance(value, list | tuple) else str(value)
