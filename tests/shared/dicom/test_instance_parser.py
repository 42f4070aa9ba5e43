"""InstanceParser against real files: its frame ranges must select exactly what pydicom reads."""

import contextlib
import io
import os
import random
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.uid import ExplicitVRLittleEndian

from shared.dicom.instance_parser import (
    HEAD_MEMORY_LIMIT,
    InstanceParser,
    InvalidInstance,
    ParsedInstance,
)
from tests.data.builders import with_vr

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def data_path(name: str) -> str:
    """The path of a pydicom-data file; the lookup's declared type is wider than its use."""
    return str(get_testdata_file(name))


IMAGE_FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "emri_small.dcm",
    "eCT_Supplemental.dcm",
    "examples_ybr_color.dcm",
    "color3d_jpeg_baseline.dcm",
    "rtdose.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "JPGExtended.dcm",
    "JPEG-LL.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "US1_J2KR.dcm",
    "MR_small_RLE.dcm",
    "OBXXXX1A_rle_2frame.dcm",
    "SC_rgb_rle_32bit_2frame.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "SC_rgb_small_odd.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
    "JPEG2000-embedded-sequence-delimiter.dcm",
    "SC_rgb_jpeg.dcm",
]
NO_FRAME_FILES = ["liver.dcm", "image_dfl.dcm"]
NO_PIXEL_FILES = ["rtplan.dcm", "test-SR.dcm", "waveform_ecg.dcm"]


def read(name: str) -> bytes:
    return Path(data_path(name)).read_bytes()


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def stream(data: bytes, parts: Iterator[bytes]) -> tuple[ParsedInstance, bytes]:
    """Feed as the store endpoint does, returning the result and the bytes it would upload."""
    parser = InstanceParser()
    uploaded = bytearray()
    for part in parts:
        was_ready = parser.head_ready
        parser.feed(part)
        if was_ready:
            uploaded += part
        elif parser.head_ready:
            uploaded += b"".join(parser.buffered())
    parsed = parser.finish()
    if not uploaded:
        uploaded += b"".join(parser.buffered())
    assert bytes(uploaded) == data
    return parsed, bytes(uploaded)


def parse(data: bytes, size: int = 997) -> ParsedInstance:
    return stream(data, chunks(data, size))[0]


def frame_bytes(data: bytes, parsed: ParsedInstance) -> list[bytes]:
    assert parsed.frames is not None
    return [b"".join(data[o : o + n] for o, n in frame.ranges) for frame in parsed.frames]


def pydicom_frames(data: bytes, parsed: ParsedInstance) -> list[bytes]:
    full = pydicom.dcmread(io.BytesIO(data))
    assert parsed.pixel_data is not None and parsed.frames is not None
    value = full[parsed.pixel_data.tag].value
    count = int(full.get("NumberOfFrames") or 1)
    if not parsed.pixel_data.encapsulated:
        size = parsed.frames[0].ranges[0][1]
        return [value[i * size : (i + 1) * size] for i in range(count)]
    extended = None
    if "ExtendedOffsetTable" in full:
        extended = (full.ExtendedOffsetTable, full.ExtendedOffsetTableLengths)
    return list(generate_frames(value, number_of_frames=count, extended_offsets=extended))


@pytest.mark.parametrize("name", IMAGE_FILES)
def test_frames_match_pydicom(name: str) -> None:
    data = read(name)
    parsed = parse(data)
    assert parsed.frames is not None
    assert frame_bytes(data, parsed) == pydicom_frames(data, parsed)
    expected = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    assert parsed.dataset == expected
    assert parsed.dataset.file_meta == expected.file_meta
    assert parsed.transfer_syntax_uid == expected.file_meta.TransferSyntaxUID
    assert parsed.size == len(data)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("color3d_jpeg_baseline.dcm", 120),
        ("OBXXXX1A_rle_2frame.dcm", 2),
        ("SC_rgb_rle_32bit_2frame.dcm", 2),
        ("emri_small.dcm", 10),
        ("CT_small.dcm", 1),
    ],
)
def test_frame_counts(name: str, count: int) -> None:
    parsed = parse(read(name), 65536)
    assert parsed.frames is not None and len(parsed.frames) == count


def test_native_layout_explicit_little_endian() -> None:
    data = read("CT_small.dcm")
    parsed = parse(data)
    location = parsed.pixel_data
    assert location is not None
    assert (location.tag, location.vr, location.encapsulated) == (0x7FE00010, "OW", False)
    assert location.little_endian
    tag_offset = data.index(b"\xe0\x7f\x10\x00OW")
    assert location.value_offset == tag_offset + 12
    assert location.value_length == 128 * 128 * 2


def test_implicit_vr_header_is_eight_bytes() -> None:
    data = read("MR_small_implicit.dcm")
    parsed = parse(data)
    location = parsed.pixel_data
    assert location is not None and location.vr == "OW"
    tag_offset = data.index(b"\xe0\x7f\x10\x00")
    assert location.value_offset == tag_offset + 8


def test_big_endian_is_recorded() -> None:
    parsed = parse(read("MR_small_bigendian.dcm"))
    assert parsed.pixel_data is not None and not parsed.pixel_data.little_endian


def test_encapsulated_layout() -> None:
    parsed = parse(read("JPGExtended.dcm"))
    location = parsed.pixel_data
    assert location is not None
    assert location.encapsulated and location.value_length is None and location.vr == "OB"


@pytest.mark.parametrize("name", NO_FRAME_FILES)
def test_frames_unavailable(name: str) -> None:
    parsed = parse(read(name))
    assert parsed.pixel_data is not None
    assert parsed.frames is None


@pytest.mark.parametrize("keyword", ["Rows", "Columns", "SamplesPerPixel"])
def test_pixel_geometry_in_a_text_vr_gives_no_frames(keyword: str) -> None:
    """pydicom reads a US value declared SH as text; the expected length is then a string."""
    tag = tag_for_keyword(keyword)
    assert tag is not None
    parsed = parse(with_vr(read("CT_small.dcm"), tag, b"SH"))
    assert parsed.pixel_data is not None
    assert parsed.frames is None


def test_deflated_data_set_is_not_addressable() -> None:
    data = read("image_dfl.dcm")
    parsed = parse(data)
    assert parsed.pixel_data is not None and parsed.pixel_data.value_offset is None
    assert parsed.dataset == pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)


@pytest.mark.parametrize("name", NO_PIXEL_FILES)
def test_no_pixel_data_is_ready_at_finish(name: str) -> None:
    data = read(name)
    parser = InstanceParser()
    for part in chunks(data, 512):
        parser.feed(part)
    assert not parser.head_ready
    parsed = parser.finish()
    assert parser.head_ready
    assert b"".join(parser.buffered()) == data
    assert parsed.pixel_data is None and parsed.frames is None
    assert parsed.dataset == pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)


def test_head_is_ready_before_the_pixel_data_ends() -> None:
    data = read("color3d_jpeg_baseline.dcm")
    parser = InstanceParser()
    fed = 0
    for part in chunks(data, 4096):
        parser.feed(part)
        fed += len(part)
        if parser.head_ready:
            break
    head_length = data.index(b"\xe0\x7f\x10\x00OB")
    # Parses are tried each time the buffer doubles, so the head is seen within 2x its size.
    assert fed <= 2 * (head_length + 12) + 4096
    assert parser.dataset.SOPInstanceUID == pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID


def test_buffered_is_taken_once_and_only_when_ready() -> None:
    parser = InstanceParser()
    with pytest.raises(RuntimeError):
        parser.buffered()
    parser.feed(read("CT_small.dcm"))
    assert parser.head_ready
    list(parser.buffered())
    with pytest.raises(RuntimeError):
        parser.buffered()


def test_deferred_values_stay_readable_after_buffered() -> None:
    data = read("eCT_Supplemental.dcm")
    with InstanceParser() as parser:
        for part in chunks(data, 8192):
            parser.feed(part)
            if parser.head_ready:
                break
        b"".join(parser.buffered())
        expected = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        assert parser.dataset == expected


def test_feed_after_finish_is_an_error() -> None:
    parser = InstanceParser()
    parser.feed(read("CT_small.dcm"))
    parser.finish()
    with pytest.raises(RuntimeError):
        parser.feed(b"\0")


def _rewrite(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _jpeg_frames(count: int) -> tuple[Dataset, list[bytes]]:
    ds = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    frames = list(generate_frames(ds.PixelData, number_of_frames=ds.NumberOfFrames))[:count]
    ds.NumberOfFrames = count
    return ds, frames


def test_basic_offset_table_with_several_fragments_per_frame() -> None:
    ds, frames = _jpeg_frames(3)
    ds.PixelData = encapsulate(frames, fragments_per_frame=3, has_bot=True)
    data = _rewrite(ds)
    parsed = parse(data, 333)
    assert parsed.frames is not None
    assert [len(frame.ranges) for frame in parsed.frames] == [3, 3, 3]
    assert [f.rstrip(b"\0") for f in frame_bytes(data, parsed)] == [f.rstrip(b"\0") for f in frames]
    assert frame_bytes(data, parsed) == pydicom_frames(data, parsed)


def test_extended_offset_table() -> None:
    ds, frames = _jpeg_frames(4)
    ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(
        frames
    )
    data = _rewrite(ds)
    parsed = parse(data, 1000)
    assert frame_bytes(data, parsed) == frames
    assert frame_bytes(data, parsed) == pydicom_frames(data, parsed)


def test_codestream_starts_split_fragments_without_offset_table() -> None:
    ds, frames = _jpeg_frames(3)
    ds.PixelData = encapsulate(frames, fragments_per_frame=2, has_bot=False)
    data = _rewrite(ds)
    parsed = parse(data, 777)
    assert parsed.frames is not None
    assert [len(frame.ranges) for frame in parsed.frames] == [2, 2, 2]
    assert frame_bytes(data, parsed) == pydicom_frames(data, parsed)


def test_all_fragments_form_a_single_frame() -> None:
    ds, frames = _jpeg_frames(1)
    ds.PixelData = encapsulate(frames, fragments_per_frame=4, has_bot=False)
    data = _rewrite(ds)
    parsed = parse(data)
    assert parsed.frames is not None and len(parsed.frames) == 1
    assert len(parsed.frames[0].ranges) == 4
    assert frame_bytes(data, parsed) == pydicom_frames(data, parsed)


def test_unmappable_fragments_give_no_frames() -> None:
    ds, frames = _jpeg_frames(3)
    ds.PixelData = encapsulate(frames[:2], has_bot=False)
    parsed = parse(_rewrite(ds))
    assert parsed.pixel_data is not None and parsed.frames is None


def test_head_larger_than_memory_limit_spills_and_parses() -> None:
    ds = pydicom.dcmread(data_path("CT_small.dcm"))
    ds.add_new(0x00091010, "LO", "Example")
    ds.add_new(0x00091011, "OB", bytes(HEAD_MEMORY_LIMIT + 4096))
    data = _rewrite(ds)
    parsed = parse(data, 1 << 20)
    assert parsed.dataset[0x00091011].value == bytes(HEAD_MEMORY_LIMIT + 4096)
    assert frame_bytes(data, parsed) == [ds.PixelData]


def test_native_pixel_data_is_streamed_in_bounded_memory() -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated = 1024, 1024, 1, 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = 16
    ds.PixelData = b""
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    head = _rewrite(ds)
    frame_size = 1024 * 1024 * 2
    total = frame_size * 16
    head = head[:-4] + total.to_bytes(4, "little")
    first = 8192
    block = bytes(1 << 20)
    last = bytes(len(block) - first)
    parser = InstanceParser()
    parser.feed(head + bytes(first))
    assert parser.head_ready
    b"".join(parser.buffered())
    tracemalloc.start()
    for _ in range(total // len(block) - 1):
        parser.feed(block)
    parser.feed(last)
    parsed = parser.finish()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 256 * 1024
    assert parsed.frames is not None and len(parsed.frames) == 16
    assert parsed.frames[15].ranges == ((len(head) + 15 * frame_size, frame_size),)


@pytest.mark.parametrize("name", ["no_meta.dcm", "meta_missing_tsyntax.dcm", "MR_truncated.dcm"])
def test_refused_files(name: str) -> None:
    with pytest.raises(InvalidInstance):
        parse(read(name))


def test_missing_dicm_prefix_is_refused_as_soon_as_seen() -> None:
    parser = InstanceParser()
    with pytest.raises(InvalidInstance, match="DICM"):
        parser.feed(read("no_meta.dcm")[:200])


def test_zero_bytes_are_refused() -> None:
    with pytest.raises(InvalidInstance, match="empty"):
        InstanceParser().finish()


def test_truncated_encapsulated_pixel_data_is_refused() -> None:
    data = read("JPGExtended.dcm")
    with pytest.raises(InvalidInstance, match="truncated"):
        parse(data[:-20])


def test_native_pixel_data_shorter_than_geometry_is_refused() -> None:
    ds = pydicom.dcmread(data_path("CT_small.dcm"))
    ds.PixelData = ds.PixelData[:-2]
    with pytest.raises(InvalidInstance, match="shorter"):
        parse(_rewrite(ds))


def test_undefined_length_in_native_syntax_is_refused() -> None:
    ds, frames = _jpeg_frames(1)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = b""
    head = _rewrite(ds)
    delimiter = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    data = head[:-4] + b"\xff\xff\xff\xff" + encapsulate(frames) + delimiter
    with pytest.raises(InvalidInstance, match="native"):
        parse(data)


@given(st.binary(min_size=1, max_size=4000))
def test_random_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidInstance):
        parse(data)


@given(st.binary(max_size=3000))
def test_random_bytes_after_the_prefix_never_break_the_parser(body: bytes) -> None:
    with contextlib.suppress(InvalidInstance):
        parse(bytes(128) + b"DICM" + body)


CHUNKED_FILES = [
    "MR_small_RLE.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "image_dfl.dcm",
    "rtplan.dcm",
    "JPEG2000-embedded-sequence-delimiter.dcm",
    "SC_rgb_rle_32bit_2frame.dcm",
]
REFERENCE = {name: parse(read(name), 1 << 30) for name in CHUNKED_FILES}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(CHUNKED_FILES), seed=st.integers(0, 2**32 - 1))
def test_random_chunkings_give_identical_results(name: str, seed: int) -> None:
    data = read(name)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), k=rng.randint(0, min(60, len(data) - 1))))
    parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    parsed, _ = stream(data, iter(parts))
    reference = REFERENCE[name]
    assert parsed.pixel_data == reference.pixel_data
    assert parsed.frames == reference.frames
    assert parsed.size == reference.size
    assert parsed.dataset == reference.dataset


# Files pydicom reads that the service refuses on purpose, with the rule each one breaks.
REFUSED_BY_DESIGN = {
    "emri_small_jpeg_2k_lossless_too_short.dcm": "no sequence delimiter",
    "MR_truncated.dcm": "pixel data shorter than its declared length",
    "meta_missing_tsyntax.dcm": "no transfer syntax",
    "rtplan_truncated.dcm": "values run past the end of the stream",
}


def _corpus() -> list[str]:
    return sorted(f for f in get_testdata_files("**/*") if os.path.isfile(f))


def test_corpus_acceptance() -> None:
    refused_but_readable = set()
    accepted = 0
    for path in _corpus():
        data = Path(path).read_bytes()
        try:
            pydicom.dcmread(io.BytesIO(data))
        except Exception:
            readable = False
        else:
            readable = True
        try:
            parsed = parse(data, 8192)
        except InvalidInstance:
            if readable:
                refused_but_readable.add(os.path.basename(path))
            continue
        accepted += 1
        if parsed.frames is not None:
            assert frame_bytes(data, parsed) == pydicom_frames(data, parsed), path
    assert refused_but_readable == set(REFUSED_BY_DESIGN)
    assert accepted >= 220
