"""Frames are read by byte range: one frame of a large instance reads that frame only."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import pytest

from shared.blob_store import BlobStore
from shared.errors import NotFound
from shared.frames import frame_bodies, frame_source
from shared.uid_index.keys import InstanceRef
from shared.uid_index.sidecar import Sidecar
from shared.wado_negotiation import EXPLICIT_VR_LITTLE_ENDIAN, OCTET_STREAM, Rendition

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


@pytest.mark.parametrize("value", ["10(\0\x10", "", 0])
def test_frames_decoded_whole_with_a_malformed_number_of_frames_count_one(value: object) -> None:
    sidecar = replace(_sidecar(), frames=None)
    sidecar.metadata["00280008"] = {"vr": "IS", "Value": [value]}
    assert frame_source(sidecar, "file.dcm", [1]).count == 1
    with pytest.raises(NotFound):
        frame_source(sidecar, "file.dcm", [2])
