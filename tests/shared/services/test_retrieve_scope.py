"""The frame view of a sidecar (``retrieve_scope.frame_view``): what a frame retrieve keeps of an
instance's sidecar, and that its frames are read and described as from the whole sidecar."""

from __future__ import annotations

from dataclasses import replace

from shared.pixels.transcode import pixel_attributes
from shared.services.frames import FrameSource
from shared.services.retrieve_scope import FRAME_TAGS, frame_view
from tests.shared.services.test_frames import _big_endian_8_bit_ow


def test_a_frame_view_keeps_what_frames_are_served_with_and_nothing_else() -> None:
    sidecar, _ = _big_endian_8_bit_ow([b"\x01\x02\x03", b"\x04\x05\x06"], 140)
    whole = replace(
        sidecar,
        metadata={
            **sidecar.metadata,
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
            "00280010": {"vr": "US", "Value": [1]},
            "00280011": {"vr": "US", "Value": [3]},
            "00081030": {"vr": "LO", "Value": ["Study"]},
        },
    )
    view = frame_view(whole)
    assert set(view.metadata) == set(whole.metadata) & FRAME_TAGS
    assert "00100010" not in view.metadata
    assert replace(view, metadata=whole.metadata) == whole
    full, cut = FrameSource(whole, "f"), FrameSource(view, "f")
    assert (cut.count, cut.word_size, cut.syntax) == (full.count, full.word_size, full.syntax)
    assert [cut.stored_ranges(n) for n in (1, 2)] == [full.stored_ranges(n) for n in (1, 2)]
    assert pixel_attributes(view.metadata) == pixel_attributes(whole.metadata)
