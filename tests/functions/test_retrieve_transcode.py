"""Every stored syntax retrieved in every output syntax, as instances and as frames.

One corpus file per stored syntax is stored once for the module; each output syntax is asked for
by name, the answer is decoded with pydicom and its pixels compared with the original's: exactly
for lossless syntaxes, within ``LOSSY_MEAN_ERROR`` of the sample range for lossy ones (JPEG-LS
near-lossless within its NEAR exactly). Pairs the encoders cannot serve answer 406.
"""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.multival import MultiValue
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    generate_uid,
)

from shared.pixels.encoders import JPEG_LS_NEAR
from shared.pixels.transcode import convert
from shared.web.negotiation import frame_media_type
from tests.data.builders import corpus_path, with_fresh_uids
from tests.functions.retrieve_checks import parts_of, pixels, store_all, syntax_of

pytestmark = pytest.mark.integration

# One source per stored syntax; the HTJ2K one is a corpus file encoded here, as the corpus has none.
SOURCES = [
    "CT_small.dcm",  # Explicit VR Little Endian, signed 16-bit
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "image_dfl.dcm",  # deflated, 8-bit
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline, colour
    "JPGExtended.dcm",  # 12-bit
    "JPGLosslessP14SV1_1s_1f_8b.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEGLSNearLossless_16.dcm",  # 50 x 10: too narrow for OpenJPEG
    "US1_J2KR.dcm",  # colour, YBR_RCT
    "MR2_J2KI.dcm",  # lossy JPEG 2000, 12-bit
    "OBXXXX1A_rle_2frame.dcm",  # palette colour, two frames
    "SC_rgb_rle_32bit_2frame.dcm",  # 32-bit colour: RLE and native only
    "HTJ2K:MR_small.dcm",
]

LOSSLESS = [
    RLELossless,
    JPEGLSLossless,
    JPEG2000Lossless,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEGLosslessSV1,
]
LOSSY_METHODS = {
    JPEGLSNearLossless: "ISO_14495_1",
    JPEG2000: "ISO_15444_1",
    HTJ2K: "ISO_15444_15",
    JPEGBaseline8Bit: "ISO_10918_1",
}
TARGETS = [*LOSSLESS, *LOSSY_METHODS, DeflatedExplicitVRLittleEndian]
LOSSY_MEAN_ERROR = 0.02
"""Largest mean absolute difference of a lossy answer, as a fraction of the sample range."""

_ALL_BUT_RLE = [*LOSSLESS[1:], *LOSSY_METHODS]
# What cannot be encoded, and why: JPEG baseline takes 8-bit samples only; lossy output of
# palette indexes is meaningless; lossy HTJ2K is written at the container's precision, so only
# where Bits Stored fills it; OpenJPEG needs 32 rows and columns; 32-bit samples fit RLE alone.
REFUSED = {
    "CT_small.dcm": {JPEGBaseline8Bit},
    "MR_small_implicit.dcm": {JPEGBaseline8Bit},
    "MR_small_bigendian.dcm": {JPEGBaseline8Bit},
    "JPGExtended.dcm": {HTJ2K, JPEGBaseline8Bit},
    "MR_small_jpeg_ls_lossless.dcm": {JPEGBaseline8Bit},
    "JPEGLSNearLossless_16.dcm": {JPEG2000Lossless, JPEG2000, JPEGBaseline8Bit},
    "MR2_J2KI.dcm": {HTJ2K, JPEGBaseline8Bit},
    "OBXXXX1A_rle_2frame.dcm": {JPEGLSNearLossless, JPEG2000, HTJ2K, JPEGBaseline8Bit},
    "SC_rgb_rle_32bit_2frame.dcm": set(_ALL_BUT_RLE),
    "HTJ2K:MR_small.dcm": {JPEGBaseline8Bit},
}


def _source_file(name: str) -> bytes:
    encoded, _, corpus_name = name.rpartition(":")
    data = corpus_path(corpus_name).read_bytes()
    return convert(data, HTJ2KLossless) if encoded else data


@pytest.fixture(scope="module")
async def stored(base_url: str) -> dict[str, tuple[str, bytes]]:
    """Each source stored in one study: name to (instance path, file bytes)."""
    study = generate_uid()
    made = {name: with_fresh_uids(_source_file(name), study_uid=study) for name in SOURCES}
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        await store_all(http, [data for data, _ in made.values()])
    return {
        name: (
            f"/v2/studies/{study}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
            data,
        )
        for name, (data, ds) in made.items()
    }


def _assert_close(answer: np.ndarray, original: np.ndarray, target: str) -> None:
    assert answer.shape == original.shape
    if target not in LOSSY_METHODS:
        assert np.array_equal(answer, original)
        return
    error = np.abs(answer.astype(np.int64) - original.astype(np.int64))
    if target == JPEGLSNearLossless:
        assert error.max() <= JPEG_LS_NEAR
    span = max(int(original.max()) - int(original.min()), 1)
    assert error.mean() <= LOSSY_MEAN_ERROR * span


@pytest.mark.parametrize("target", TARGETS)
async def test_instances_in_every_output_syntax(
    http: httpx.AsyncClient, stored: dict[str, tuple[str, bytes]], target: str
) -> None:
    accept = f'multipart/related; type="application/dicom"; transfer-syntax={target}'
    for name, (path, data) in stored.items():
        response = await http.get(path, headers={"accept": accept})
        if target in REFUSED.get(name, ()):
            assert response.status_code == 406, name
            continue
        assert response.status_code == 200, (name, response.text)
        ((content_type, body),) = await parts_of(response)
        assert content_type == f"application/dicom; transfer-syntax={target}", name
        assert syntax_of(body) == target, name
        _assert_close(pixels(body), pixels(data), target)
        answer = dcmread(io.BytesIO(body))
        if target in LOSSY_METHODS and syntax_of(data) != target:
            assert answer.LossyImageCompression == "01", name
            methods = answer.LossyImageCompressionMethod
            last = methods[-1] if isinstance(methods, MultiValue) else methods
            assert last == LOSSY_METHODS[target], name


def _frame_pixels(frame: bytes, target: str, original: Dataset) -> np.ndarray:
    """A returned frame decoded with pydicom, read with the original's pixel attributes as a
    decoder sees them after decoding (colour as RGB, YCbCr for a JPEG baseline codestream)."""
    ds = original.group_dataset(0x0028)
    ds.NumberOfFrames = 1
    if int(ds.SamplesPerPixel) == 3:
        ds.PhotometricInterpretation = "YBR_FULL" if target == JPEGBaseline8Bit else "RGB"
        ds.PlanarConfiguration = 0
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = target
    ds.set_original_encoding(False, True)
    return np.asarray(ds.pixel_array)


@pytest.mark.parametrize("target", [t for t in TARGETS if t != DeflatedExplicitVRLittleEndian])
async def test_frames_in_every_output_syntax(
    http: httpx.AsyncClient, stored: dict[str, tuple[str, bytes]], target: str
) -> None:
    accept = f'multipart/related; type="{frame_media_type(target)}"; transfer-syntax={target}'
    for name, (path, data) in stored.items():
        original = dcmread(io.BytesIO(data))
        count = int(original.get("NumberOfFrames") or 1)
        response = await http.get(f"{path}/frames/{count}", headers={"accept": accept})
        if target in REFUSED.get(name, ()):
            assert response.status_code == 406, name
            continue
        assert response.status_code == 200, (name, response.text)
        ((content_type, frame),) = await parts_of(response)
        assert content_type == f"{frame_media_type(target)}; transfer-syntax={target}", name
        expected = pixels(data)
        expected = expected[count - 1] if count > 1 else expected
        _assert_close(_frame_pixels(frame, target, original), expected, target)


async def test_a_frame_media_type_alone_means_its_default_lossless_syntax(
    http: httpx.AsyncClient, stored: dict[str, tuple[str, bytes]]
) -> None:
    path, data = stored["CT_small.dcm"]
    for media_type, syntax in [
        ("image/jls", JPEGLSLossless),
        ("image/jp2", JPEG2000Lossless),
        ("image/jphc", HTJ2KLossless),
        ("image/dicom-rle", RLELossless),
        ("image/jpeg", JPEGLosslessSV1),
    ]:
        response = await http.get(f"{path}/frames/1", headers={"accept": media_type})
        assert response.status_code == 200, (media_type, response.text)
        assert response.headers["content-type"] == f"{media_type}; transfer-syntax={syntax}"
        original = dcmread(io.BytesIO(data))
        assert np.array_equal(_frame_pixels(response.content, syntax, original), pixels(data))
    # JPEG 2000 Part 2 is image/jpx's default, and it is not written here.
    response = await http.get(f"{path}/frames/1", headers={"accept": "image/jpx"})
    assert response.status_code == 406


async def test_stored_frames_win_when_the_client_accepts_them(
    http: httpx.AsyncClient, stored: dict[str, tuple[str, bytes]]
) -> None:
    path, _ = stored["US1_J2KR.dcm"]
    accept = "image/jls, image/jp2;q=0.2"
    response = await http.get(f"{path}/frames/1", headers={"accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == (f"image/jp2; transfer-syntax={JPEG2000Lossless}")


async def test_a_study_in_a_syntax_one_instance_cannot_take_is_refused_whole(
    http: httpx.AsyncClient, stored: dict[str, tuple[str, bytes]]
) -> None:
    """JPEG 2000 Lossless suits every instance but the 50 x 10 one (too narrow for OpenJPEG):
    the study is refused before any byte, or given in the next member the client accepts."""
    path, _ = stored["CT_small.dcm"]
    study = path.split("/series/")[0]
    accept = f'multipart/related; type="application/dicom"; transfer-syntax={JPEG2000Lossless}'
    response = await http.get(study, headers={"accept": accept})
    assert response.status_code == 406
    assert response.headers["content-type"].startswith("text/plain")
    fallback = f'{accept}, multipart/related; type="application/dicom"; transfer-syntax=*;q=0.5'
    response = await http.get(study, headers={"accept": fallback})
    assert response.status_code == 200, response.text
    parts = await parts_of(response)
    assert sorted(body for _, body in parts) == sorted(data for _, data in stored.values())


@pytest.mark.parametrize("media_type", ["image/jls", "image/jphc"])
async def test_native_pixel_bulk_data_in_a_compressed_media_type(
    http: httpx.AsyncClient, stored: dict[str, tuple[str, bytes]], media_type: str
) -> None:
    path, data = stored["MR_small_bigendian.dcm"]
    metadata = (await http.get(f"{path}/metadata")).json()[0]
    uri = metadata["7FE00010"]["BulkDataURI"]
    accept = f'multipart/related; type="{media_type}"'
    response = await http.get(uri, headers={"accept": accept})
    assert response.status_code == 200, response.text
    ((content_type, frame),) = await parts_of(response)
    syntax = {"image/jls": JPEGLSLossless, "image/jphc": HTJ2KLossless}[media_type]
    assert content_type == f"{media_type}; transfer-syntax={syntax}"
    original = dcmread(io.BytesIO(data))
    assert np.array_equal(_frame_pixels(frame, syntax, original), pixels(data))
