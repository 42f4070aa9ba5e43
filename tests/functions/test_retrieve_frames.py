"""Retrieve frames through the local host: byte ranges, decoding, media types, errors."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid

from shared.clients import Clients
from shared.config import DEFAULT_PARTITION
from shared.services.store import StoreOptions, request_parts, store
from tests.data.builders import to_bytes, with_fresh_uids
from tests.functions.retrieve_checks import EXPLICIT, parts_of, store_all

pytestmark = pytest.mark.integration

OCTET = 'multipart/related; type="application/octet-stream"'


async def _stored(http: httpx.AsyncClient, name: str) -> tuple[str, bytes]:
    data, ds = with_fresh_uids(name, study_uid=generate_uid())
    await store_all(http, [data])
    path = (
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    return path, data


def _frames_as_array(data: bytes) -> np.ndarray:
    ds = dcmread(io.BytesIO(data))
    array = np.asarray(ds.pixel_array)
    array = array.astype(array.dtype.newbyteorder("<"))
    return array if int(ds.get("NumberOfFrames") or 1) > 1 else array[np.newaxis]


@pytest.mark.parametrize(
    "name",
    [
        "emri_small.dcm",
        "emri_small_big_endian.dcm",
        # 8-bit pixels in OW, big endian: swapped in pairs.
        "OBXXXX1A_expb.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
        "emri_small_RLE.dcm",
        "rtdose.dcm",
        "JPEG-LL.dcm",
        "RG1_J2KR.dcm",
        "image_dfl.dcm",
        "SC_rgb_rle_32bit_2frame.dcm",
    ],
)
async def test_frames_uncompressed_in_the_order_asked(http: httpx.AsyncClient, name: str) -> None:
    path, data = await _stored(http, name)
    expected = _frames_as_array(data)
    count = len(expected)
    numbers = [count, 1] if count > 1 else [1]
    accept = f"{OCTET}; transfer-syntax={EXPLICIT}"
    response = await http.get(
        f"{path}/frames/{','.join(map(str, numbers))}", headers={"accept": accept}
    )
    assert response.status_code == 200, response.text
    parts = await parts_of(response)
    assert [t for t, _ in parts] == [f"application/octet-stream; transfer-syntax={EXPLICIT}"] * len(
        numbers
    )
    for number, (_, body) in zip(numbers, parts, strict=True):
        assert body == expected[number - 1].tobytes(), number


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("color3d_jpeg_baseline.dcm", "image/jpeg"),
        ("emri_small_jpeg_ls_lossless.dcm", "image/jls"),
        ("RG1_J2KR.dcm", "image/jp2"),
        ("emri_small_RLE.dcm", "image/dicom-rle"),
        ("JPEG-LL.dcm", "image/jpeg"),
    ],
)
async def test_frames_as_stored(http: httpx.AsyncClient, name: str, media_type: str) -> None:
    path, data = await _stored(http, name)
    ds = dcmread(io.BytesIO(data))
    count = int(ds.get("NumberOfFrames") or 1)
    stored = list(generate_frames(ds.PixelData, number_of_frames=count))
    syntax = ds.file_meta.TransferSyntaxUID
    for accept in (
        f"{OCTET}; transfer-syntax=*",
        "multipart/related; type=application/octet-stream; transfer-syntax=*",
        'multipart/related; type="*/*"',
        f'multipart/related; type="{media_type}"',
    ):
        response = await http.get(f"{path}/frames/{count}", headers={"accept": accept})
        assert response.status_code == 200, (accept, response.text)
        parts = await parts_of(response)
        assert parts == [(f"{media_type}; transfer-syntax={syntax}", stored[count - 1])], accept


async def test_single_part_frame(http: httpx.AsyncClient) -> None:
    path, data = await _stored(http, "emri_small.dcm")
    expected = _frames_as_array(data)
    response = await http.get(f"{path}/frames/3", headers={"accept": "application/octet-stream"})
    assert response.status_code == 200, response.text
    assert response.content == expected[2].tobytes()
    several = await http.get(f"{path}/frames/1,2", headers={"accept": "application/octet-stream"})
    assert several.status_code == 406


@pytest.mark.parametrize(
    ("frames", "status"),
    [("0", 400), ("-1", 400), ("a", 400), ("1,,2", 400), ("11", 404), ("1,99", 404)],
)
async def test_bad_frame_numbers(http: httpx.AsyncClient, frames: str, status: int) -> None:
    path, _ = await _stored(http, "emri_small.dcm")
    response = await http.get(f"{path}/frames/{frames}", headers={"accept": OCTET})
    assert response.status_code == status


@pytest.mark.parametrize("resource", ["", "/rendered", "/thumbnail"])
async def test_frame_number_too_long_for_an_integer_is_400(
    http: httpx.AsyncClient, resource: str
) -> None:
    path, _ = await _stored(http, "emri_small.dcm")
    response = await http.get(f"{path}/frames/{'9' * 4301}{resource}", headers={"accept": "*/*"})
    assert response.status_code == 400
    assert "frame numbers" in response.text


async def test_frames_of_an_instance_without_pixels_is_404(http: httpx.AsyncClient) -> None:
    path, _ = await _stored(http, "rtplan.dcm")
    assert (await http.get(f"{path}/frames/1")).status_code == 404


@pytest.mark.parametrize(
    "accept",
    [
        'multipart/related; type="image/jpx"',
        'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.51',
    ],
)
async def test_compressed_frame_in_a_syntax_not_written_here_is_406(
    http: httpx.AsyncClient, accept: str
) -> None:
    path, _ = await _stored(http, "emri_small_RLE.dcm")
    response = await http.get(f"{path}/frames/1", headers={"accept": accept})
    assert response.status_code == 406


async def test_single_bit_frames_are_packed(http: httpx.AsyncClient) -> None:
    path, data = await _stored(http, "liver.dcm")
    ds = dcmread(io.BytesIO(data))
    size = int(ds.Rows) * int(ds.Columns) // 8
    response = await http.get(f"{path}/frames/3,1", headers={"accept": OCTET})
    assert response.status_code == 200, response.text
    bodies = [body for _, body in await parts_of(response)]
    assert bodies == [ds.PixelData[2 * size : 3 * size], ds.PixelData[:size]]


async def test_a_frame_is_never_served_from_a_version_the_index_no_longer_has(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    """The host reads a frame it has seen before while it asks the index (``frame_prefetch``);
    a copy stored meanwhile by another process, with other pixels, is what it must serve."""
    first, ds = with_fresh_uids("CT_small.dcm", study_uid=generate_uid())
    await store_all(http, [first])
    path = (
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/frames/1"
    )
    accept = {"Accept": f"{OCTET}; transfer-syntax=*"}
    ((_, before),) = await parts_of(await http.get(path, headers=accept))
    ((_, again),) = await parts_of(await http.get(path, headers=accept))
    assert again == before == bytes(ds.PixelData)

    ds.PixelData = bytes(255 - b for b in ds.PixelData)
    replaced = to_bytes(ds)
    options = StoreOptions(api_version=2, partition=DEFAULT_PARTITION, study_uid=None, upsert=True)
    (outcome,) = await store(request_parts("application/dicom", _once(replaced)), options, storage)
    assert outcome.failure is None
    ((_, after),) = await parts_of(await http.get(path, headers=accept))
    assert after == bytes(ds.PixelData) != before
    # Deleted: the frame the host saw last is gone with it.
    response = await http.delete(f"/v2/studies/{ds.StudyInstanceUID}")
    assert response.status_code in (202, 204)
    assert (await http.get(path, headers=accept)).status_code == 404


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
