"""Frames are read by byte range: one frame of a large instance reads that frame only."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.data import get_testdata_file

from shared.dicom.transfer_syntaxes import EXPLICIT_VR_LITTLE_ENDIAN
from shared.errors import NotFound
from shared.pixels.transcode import swap_words
from shared.services.frames import (
    frame_bodies,
    frame_source,
    ranges_within,
    read_frame,
    read_native_frame,
)
from shared.storage.blob_store import BlobStore
from shared.uid_index.keys import InstanceRef
from shared.uid_index.sidecar import Sidecar
from shared.web.negotiation import OCTET_STREAM, Rendition

FRAMES = 120
FRAME_BYTES = 512 * 512 * 2
PIXELS_AT = 1000


class RecordingBlobs:
    """Serves ranges of a virtual file whose byte at offset i is i % 251, and records reads."""

    def __init__(self) -> None:
        self.reads: list[tuple[str, int, int]] = []

    async def read_range(self, name: str, offset: int, length: int) -> bytes:
        self.reads.append((name, offset, length))
        return bytes((offset + i) % 251 for i in range(length))


def _sidecar() -> Sidecar:
    metadata: dict[str, Any] = {
        "00280008": {"vr": "IS", "Value": [FRAMES]},
        "00280100": {"vr": "US", "Value": [16]},
    }
    return Sidecar(
        ref=InstanceRef.of("p", "1.2", "1.2.3", "1.2.3.4"),
        version="0" * 24,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.4",
        transfer_syntax_uid=EXPLICIT_VR_LITTLE_ENDIAN,
        size=PIXELS_AT + FRAMES * FRAME_BYTES,
        metadata=metadata,
        frames=[[[PIXELS_AT + i * FRAME_BYTES, FRAME_BYTES]] for i in range(FRAMES)],
        pixel_data={"tag": "7FE00010", "offset": PIXELS_AT, "length": FRAMES * FRAME_BYTES},
        excluded_tags=(),
    )


async def test_one_frame_of_a_large_instance_reads_only_that_frame() -> None:
    blobs = RecordingBlobs()
    source = frame_source(_sidecar(), "file.dcm", [57, 3])
    rendition = Rendition(True, OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN)
    bodies = [
        body async for body in frame_bodies(cast(BlobStore, blobs), source, rendition, [57, 3])
    ]
    assert blobs.reads == [
        ("file.dcm", PIXELS_AT + 56 * FRAME_BYTES, FRAME_BYTES),
        ("file.dcm", PIXELS_AT + 2 * FRAME_BYTES, FRAME_BYTES),
    ]
    assert bodies[0][:3] == bytes((PIXELS_AT + 56 * FRAME_BYTES + i) % 251 for i in range(3))


def test_frames_past_the_end_are_not_found() -> None:
    with pytest.raises(NotFound):
        frame_source(_sidecar(), "file.dcm", [1, FRAMES + 1])


class FileBlobs:
    """Serves ranges of one in-memory file."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read_range(self, name: str, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


def _big_endian_8_bit_ow(frames: list[bytes], value_offset: int) -> tuple[Sidecar, bytes]:
    """A file of 8-bit frames in big endian OW: the samples, padded to even, swapped in pairs."""
    samples = b"".join(frames)
    value = swap_words(samples + b"\0" * (len(samples) % 2), 2)
    length = len(frames[0])
    sidecar = Sidecar(
        ref=InstanceRef.of("p", "1.2", "1.2.3", "1.2.3.4"),
        version="0" * 24,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.7",
        transfer_syntax_uid="1.2.840.10008.1.2.2",
        size=value_offset + len(value),
        metadata={
            "00280008": {"vr": "IS", "Value": [len(frames)]},
            "00280100": {"vr": "US", "Value": [8]},
            "7FE00010": {"vr": "OW", "BulkDataURI": "bulkdata/7FE00010"},
        },
        frames=[[[value_offset + i * length, length]] for i in range(len(frames))],
        pixel_data={"tag": "7FE00010", "offset": value_offset, "length": len(value)},
        excluded_tags=(),
    )
    return sidecar, b"\xee" * value_offset + value


@given(
    frames=st.integers(1, 4).flatmap(
        lambda count: st.integers(1, 9).flatmap(
            lambda length: st.lists(
                st.binary(min_size=length, max_size=length), min_size=count, max_size=count
            )
        )
    ),
    value_offset=st.integers(66, 90).map(lambda n: n * 2),
)
async def test_big_endian_8_bit_frames_in_ow_keep_every_sample(
    frames: list[bytes], value_offset: int
) -> None:
    sidecar, data = _big_endian_8_bit_ow(frames, value_offset)
    blobs = cast(BlobStore, FileBlobs(data))
    source = frame_source(sidecar, "file.dcm", [1])
    for number, frame in enumerate(frames, start=1):
        assert await read_native_frame(blobs, source, number) == frame
        stored = await read_frame(blobs, source, number)
        assert len(stored) % 2 == 0
        assert frame in swap_words(stored, 2)


async def test_an_odd_length_big_endian_frame_as_stored_is_whole_words() -> None:
    """As pydicom gives it: the 27 samples of a 3 x 3 RGB frame come in 14 swapped words."""
    ds = dcmread(get_testdata_file("SC_rgb_small_odd_big_endian.dcm"))
    samples = swap_words(ds.PixelData, 2)[:27]
    sidecar, data = _big_endian_8_bit_ow([samples], 132)
    source = frame_source(sidecar, "file.dcm", [1])
    assert await read_frame(cast(BlobStore, FileBlobs(data)), source, 1) == ds.PixelData


@pytest.mark.parametrize("value", ["10(\0\x10", "", 0])
def test_frames_decoded_whole_with_a_malformed_number_of_frames_count_one(value: object) -> None:
    sidecar = replace(_sidecar(), frames=None)
    sidecar.metadata["00280008"] = {"vr": "IS", "Value": [value]}
    assert frame_source(sidecar, "file.dcm", [1]).count == 1
    with pytest.raises(NotFound):
        frame_source(sidecar, "file.dcm", [2])


VIRTUAL = bytes(i % 251 for i in range(1000))


@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=6),
    st.integers(0, 250),
    st.integers(0, 250),
)
def test_ranges_within_hold_exactly_the_bytes_asked(
    lengths: list[int], start: int, end: int
) -> None:
    # Fragments laid out with gaps (item headers) between them, as in encapsulated Pixel Data.
    ranges, offset = [], 0
    for length in lengths:
        ranges.append((offset + 8, length))
        offset += 8 + length
    whole = b"".join(VIRTUAL[o : o + n] for o, n in ranges)
    found = ranges_within(ranges, start, end)
    assert b"".join(VIRTUAL[o : o + n] for o, n in found) == whole[start:end]
    assert all(n > 0 for _, n in found)
