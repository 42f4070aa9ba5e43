"""Elements pydicom cannot convert are carried as UN, value bytes unchanged."""

from __future__ import annotations

import io
import struct

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian

from shared.dicom.unreadable import carry_unreadable_as_un, decoded
from shared.errors import BadRequest, NotAcceptable
from tests.data.builders import to_bytes, with_fresh_uids, with_vr


def _with_short_rows_in_an_item() -> bytes:
    """A file whose sequence item holds Rows (US) with a 3-byte value."""
    _, ds = with_fresh_uids("CT_small.dcm")
    item = Dataset()
    item.Rows = 0x4142
    ds.ReferencedImageSequence = Sequence([item])
    data = to_bytes(ds)
    header = struct.pack("<HH", 0x0028, 0x0010) + b"US" + struct.pack("<H", 2)
    at = data.index(header + struct.pack("<H", 0x4142))
    return data[:at] + header[:-2] + struct.pack("<H", 3) + b"ABC" + data[at + 10 :]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (with_vr(with_fresh_uids("CT_small.dcm")[0], 0x00100010, b"ZZ"), [0x00100010]),
        (_with_short_rows_in_an_item(), [0x00081140, 0, 0x00280010]),
    ],
)
def test_unreadable_values_survive_a_change_of_syntax(data: bytes, path: list[int]) -> None:
    def raw_value(ds: Dataset) -> bytes:
        *steps, tag = path
        for sequence, index in zip(steps[::2], steps[1::2], strict=True):
            ds = ds[sequence].value[index]
        value: bytes = ds.get_item(tag).value
        return value

    ds = dcmread(io.BytesIO(data))
    original = raw_value(dcmread(io.BytesIO(data)))
    with pytest.raises(Exception):  # noqa: B017 - pydicom raises assorted errors
        ds.save_as(io.BytesIO(), implicit_vr=True, little_endian=True)
    carry_unreadable_as_un(ds)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    assert raw_value(dcmread(io.BytesIO(out.getvalue()))) == original


def test_readable_elements_are_left_alone() -> None:
    _, ds = with_fresh_uids("CT_small.dcm")
    before = {element.tag: element.VR for element in ds.iterall()}
    carry_unreadable_as_un(ds)
    assert {element.tag: element.VR for element in ds.iterall()} == before


def _fails(error: Exception) -> None:
    raise error


async def test_decoding_failures_are_406_and_the_service_s_own_errors_pass() -> None:
    assert await decoded("refused", sum, [1, 2]) == 3
    with pytest.raises(NotAcceptable, match="refused"):
        await decoded("refused", _fails, ValueError("a damaged codestream"))
    with pytest.raises(BadRequest):
        await decoded("refused", _fails, BadRequest("a region outside the image"))
