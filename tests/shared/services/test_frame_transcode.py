"""The pieces a frame-by-frame conversion writes, read back by pydicom and zlib."""

from __future__ import annotations

import io
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_frames
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    ImplicitVRLittleEndian,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from shared.errors import NotAcceptable
from shared.pixels.encoders import PixelFormat
from shared.services.frame_transcode import (
    _Body,
    _head,
    _pixel_data_end,
    _pixel_data_header,
    _pixel_data_piece,
    converted_by_frame,
)
from shared.services.frames import FrameSource
from tests.shared.services.test_frames import RecordingBlobs, _sidecar


def _dataset(rows: int, columns: int, frames: int, syntax: UID) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = syntax
    return ds


def _written(ds: Dataset, syntax: UID, frames: list[bytes]) -> bytes:
    fmt = PixelFormat.of(ds)
    meta, head = _head(ds, syntax)
    body = _Body(syntax)
    pieces = [body.encode(head + _pixel_data_header(syntax, fmt, len(frames), ds))]
    pieces += [body.encode(_pixel_data_piece(syntax, fmt, frame)) for frame in frames]
    pieces += [body.encode(_pixel_data_end(syntax, fmt, len(frames))), body.finish()]
    return meta + b"".join(pieces)


@given(st.lists(st.binary(min_size=2, max_size=64), min_size=1, max_size=5))
def test_encapsulated_frames_read_back_one_per_fragment(frames: list[bytes]) -> None:
    ds = _dataset(4, 4, len(frames), HTJ2KLossless)
    read = dcmread(io.BytesIO(_written(ds, HTJ2KLossless, frames)))
    found = list(generate_frames(read.PixelData, number_of_frames=len(frames)))
    assert found == [frame + b"\0" * (len(frame) % 2) for frame in frames]


@given(
    st.sampled_from(
        [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian]
    ),
    st.integers(1, 5),
    st.integers(1, 4),
    st.data(),
)
def test_native_frames_read_back_as_one_value(
    syntax: UID, rows: int, count: int, data: st.DataObject
) -> None:
    size = rows * 3
    frames = [data.draw(st.binary(min_size=size, max_size=size)) for _ in range(count)]
    read = dcmread(io.BytesIO(_written(_dataset(rows, 3, count, syntax), syntax, frames)))
    assert read.file_meta.TransferSyntaxUID == syntax
    assert read.PixelData[: size * count] == b"".join(frames)
    assert len(read.PixelData) == size * count + (size * count) % 2


@given(st.lists(st.binary(max_size=300)))
def test_a_deflated_body_inflates_to_its_pieces_and_is_even(pieces: list[bytes]) -> None:
    body = _Body(DeflatedExplicitVRLittleEndian)
    out = b"".join(body.encode(piece) for piece in pieces) + body.finish()
    inflater = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
    assert inflater.decompress(out) == b"".join(pieces)
    assert inflater.unused_data in (b"", b"\0")
    assert len(out) % 2 == 0


async def test_pixels_described_unusably_are_406_before_any_read() -> None:
    """v2 keeps Image Pixel attributes it cannot use (here: no Rows or Columns); converting such
    an instance frame by frame is a 406, as converting it whole is, not a server error."""
    blobs = RecordingBlobs()
    source = FrameSource(_sidecar(), "file.dcm")
    with pytest.raises(NotAcceptable):
        async for _ in converted_by_frame(blobs, source, RLELossless):  # type: ignore[arg-type]
            pass
    assert blobs.reads == []
