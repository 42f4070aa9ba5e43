"""Rendering real corpus files: a frame read by its byte ranges, then turned into JPEG or PNG."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut

from shared.dicom.instance_parser import InstanceParser
from shared.errors import BadRequest, NotAcceptable, NotFound
from shared.pixels.options import PNG, RenderParams, Viewport, Window
from shared.pixels.rendering import Frame, render
from shared.services.render_source import frame_attributes, load_frame
from shared.services.store import _sidecar
from shared.uid_index.keys import InstanceRef
from shared.uid_index.sidecar import Sidecar
from shared.web.render_params import parse_viewport
from tests.data.builders import corpus_path

BLOB = "file"


class FileBlobs:
    """One stored file served by range, recording every read."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[tuple[int, int]] = []

    async def read_range(self, name: str, offset: int, length: int) -> bytes:
        assert name == BLOB
        self.reads.append((offset, length))
        return self.data[offset : offset + length]


def stored(name: str) -> tuple[FileBlobs, Sidecar]:
    data = corpus_path(name).read_bytes()
    with InstanceParser() as parser:
        parser.feed(data)
        parsed = parser.finish()
    ref = InstanceRef.of("p", "1.2", "1.2.3", "1.2.3.4")
    return FileBlobs(data), _sidecar(ref, "0" * 24, parsed, frozenset())


async def frame_of(name: str, number: int = 1) -> Frame:
    blobs, sidecar = stored(name)
    return await load_frame(blobs, BLOB, sidecar, number)  # type: ignore[arg-type]


def decoded(image: bytes) -> Image.Image:
    return Image.open(io.BytesIO(image))


def values(frame: Frame, **params: object) -> np.ndarray:
    """The rendered frame as a PNG, decoded: exact values to compare."""
    return np.asarray(decoded(render(frame, RenderParams(media_type=PNG, **params))))  # type: ignore[arg-type]


async def test_ct_is_grey_jpeg_at_natural_size_and_fits_a_viewport() -> None:
    frame = await frame_of("CT_small.dcm")
    image = decoded(render(frame, RenderParams()))
    assert (image.format, image.mode, image.size) == ("JPEG", "L", (128, 128))
    small = decoded(render(frame, RenderParams(viewport=Viewport(64, 32))))
    assert small.size == (32, 32)


async def test_window_applies_after_the_rescale() -> None:
    frame = await frame_of("CT_small.dcm")
    units = apply_modality_lut(frame.pixels, frame.attributes)
    assert float(frame.attributes.RescaleIntercept) != 0
    center = float(np.median(units))
    narrow = values(frame, window=Window(center, 1, "LINEAR"))
    # A window one unit wide saturates: every pixel is black or white, split at the center.
    assert set(np.unique(narrow)) <= {0, 255}
    assert np.array_equal(narrow == 255, units > center - 0.5)
    wide = values(frame, window=Window(center, 4000, "LINEAR"))
    assert len(np.unique(wide)) > 20


async def test_default_window_is_the_instance_s_then_min_max() -> None:
    mr = await frame_of("MR_small.dcm")
    assert float(mr.attributes.WindowCenter) == 600
    stored_window = values(mr)
    assert np.array_equal(stored_window, values(mr, window=Window(600, 1600, "LINEAR")))
    without = replace(mr, attributes=_without(mr, "WindowCenter", "WindowWidth"))
    full_range = values(without)
    assert (full_range.min(), full_range.max()) == (0, 255)
    assert not np.array_equal(full_range, stored_window)


def _without(frame: Frame, *keywords: str) -> object:
    attributes = frame.attributes.copy()
    for keyword in keywords:
        del attributes[keyword]
    return attributes


async def test_monochrome1_is_inverted() -> None:
    frame = await frame_of("RG3_J2KI.dcm")
    assert frame.photometric == "MONOCHROME1"
    window = Window(550, 1000, "LINEAR")
    as_stored = values(frame, window=window)
    attributes = frame.attributes.copy()
    attributes.PhotometricInterpretation = "MONOCHROME2"
    positive = values(Frame(frame.pixels, "MONOCHROME2", attributes), window=window)
    assert np.array_equal(as_stored.astype(int), 255 - positive.astype(int))


async def test_rgb_stays_colour() -> None:
    frame = await frame_of("SC_rgb.dcm")
    rendered = values(frame)
    assert rendered.shape == (100, 100, 3)
    assert np.array_equal(rendered, frame.pixels)
    assert len({tuple(p) for p in rendered.reshape(-1, 3)}) > 3


async def test_ybr_jpeg_multiframe_becomes_rgb_and_frames_differ() -> None:
    first, second = (
        await frame_of("examples_ybr_color.dcm", 1),
        await frame_of("examples_ybr_color.dcm", 2),
    )
    one, two = values(first), values(second)
    assert one.shape == (240, 320, 3)
    assert not np.array_equal(one, two)
    expected = dcmread(corpus_path("examples_ybr_color.dcm")).pixel_array[1]  # RGB by pydicom
    assert np.abs(two.astype(int) - expected.astype(int)).mean() < 2
    assert decoded(render(first, RenderParams(viewport=Viewport(100, 100)))).size == (100, 75)


async def test_uncompressed_ybr_is_converted() -> None:
    frame = await frame_of("SC_ybr_full_uncompressed.dcm")
    assert frame.photometric == "YBR_FULL"
    expected = dcmread(corpus_path("SC_rgb.dcm")).pixel_array  # the same image, stored as RGB
    difference = np.abs(values(frame).astype(int) - expected.astype(int))
    assert difference.mean() < 1 and difference.max() <= 8  # YBR rounding


@pytest.mark.parametrize("name", ["OBXXXX1A.dcm", "gdcm-US-ALOKA-16.dcm"])
async def test_palette_colour_goes_through_its_lookup_tables(name: str) -> None:
    frame = await frame_of(name)
    assert frame.photometric == "PALETTE COLOR"
    rendered = values(frame)
    ds = dcmread(corpus_path(name))
    rgb = apply_color_lut(ds.pixel_array, ds)
    assert np.array_equal(rendered, (rgb >> (8 * rgb.itemsize - 8)).astype(np.uint8))
    assert rendered.ndim == 3


@pytest.mark.parametrize(
    ("big", "little"),
    [
        ("OBXXXX1A_expb.dcm", "OBXXXX1A.dcm"),
        ("gdcm-US-ALOKA-16_big.dcm", "gdcm-US-ALOKA-16.dcm"),
        ("MR_small_bigendian.dcm", "MR_small.dcm"),
    ],
)
async def test_big_endian_renders_as_its_little_endian_twin(big: str, little: str) -> None:
    # 8-bit pixels in OW and lookup tables are byte-swapped too, not only 16-bit pixels.
    assert np.array_equal(values(await frame_of(big)), values(await frame_of(little)))


async def test_a_long_lookup_table_is_read_from_the_header_not_the_pixels() -> None:
    blobs, sidecar = stored("gdcm-US-ALOKA-16.dcm")
    _, bulk = frame_attributes(sidecar.metadata, 1)
    assert bulk  # the palette is too long for the metadata
    await load_frame(blobs, BLOB, sidecar, 1)  # type: ignore[arg-type]
    assert sidecar.pixel_data is not None and sidecar.frames is not None
    header = (0, int(sidecar.pixel_data["offset"]))
    assert sorted(blobs.reads) == sorted([header, *map(tuple, sidecar.frames[0])])


async def test_multiframe_reads_only_the_frame_asked() -> None:
    blobs, sidecar = stored("emri_small.dcm")
    assert sidecar.frames is not None
    frame = await load_frame(blobs, BLOB, sidecar, 7)  # type: ignore[arg-type]
    assert blobs.reads == [tuple(r) for r in sidecar.frames[6]]
    expected = dcmread(corpus_path("emri_small.dcm")).pixel_array[6]
    assert np.array_equal(frame.pixels, expected)
    with pytest.raises(NotFound):
        await load_frame(blobs, BLOB, sidecar, 11)  # type: ignore[arg-type]


async def test_single_bit_frames_are_decoded_from_the_whole_file() -> None:
    blobs, sidecar = stored("liver.dcm")
    assert sidecar.frames is None  # packed bits: frames have no byte ranges
    frame = await load_frame(blobs, BLOB, sidecar, 2)  # type: ignore[arg-type]
    assert blobs.reads == [(0, sidecar.size)]
    expected = dcmread(corpus_path("liver.dcm")).pixel_array[1]
    assert np.array_equal(values(frame), expected * 255)


async def test_enhanced_frames_use_their_functional_groups() -> None:
    frame = await frame_of("eCT_Supplemental.dcm", 2)
    assert float(frame.attributes.WindowCenter) == 49
    assert float(frame.attributes.RescaleIntercept) == -1024
    assert np.array_equal(values(frame), values(frame, window=Window(49, 102, "LINEAR")))


async def test_an_instance_without_pixel_data_is_406() -> None:
    with pytest.raises(NotAcceptable, match="pixel data"):
        await frame_of("rtplan.dcm")


async def test_region_is_cut_flipped_and_scaled() -> None:
    frame = await frame_of("CT_small.dcm")
    natural = values(frame)
    mirrored = values(frame, viewport=parse_viewport("128,128,0,0,-128,"))
    assert np.array_equal(mirrored, natural[:, ::-1])
    corner = values(frame, viewport=parse_viewport("32,32,64,64,32,32"))
    assert np.array_equal(corner, natural[64:96, 64:96])
    doubled = values(frame, viewport=parse_viewport("64,64,0,0,32,32"))
    assert doubled.shape == (64, 64)
    with pytest.raises(BadRequest, match="viewport"):
        values(frame, viewport=parse_viewport("64,64,100,0,64,"))


async def test_quality_changes_the_jpeg() -> None:
    frame = await frame_of("MR_small.dcm")
    low, high = render(frame, RenderParams(quality=5)), render(frame, RenderParams(quality=95))
    assert len(low) < len(high)
    assert decoded(low).size == decoded(high).size == (64, 64)
