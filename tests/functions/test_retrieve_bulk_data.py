"""Bulk data through the local host: every BulkDataURI the metadata hands out, with Range."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import numpy as np
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid

from tests.data.builders import with_fresh_uids
from tests.functions.retrieve_checks import parts_of, store_all

pytestmark = pytest.mark.integration


async def _metadata(http: httpx.AsyncClient, name: str) -> tuple[dict[str, Any], bytes]:
    data, ds = with_fresh_uids(name, study_uid=generate_uid())
    await store_all(http, [data])
    path = (
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/metadata"
    )
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return response.json()[0], data


def _bulk_uris(dataset: dict[str, Any]) -> dict[str, str]:
    """BulkDataURI by element path, e.g. ``54000100/0/54001010``."""
    found = {}
    for tag, element in dataset.items():
        if "BulkDataURI" in element:
            found[tag] = element["BulkDataURI"]
        for index, item in enumerate(element.get("Value", []) if element["vr"] == "SQ" else []):
            found.update({f"{tag}/{index}/{k}": v for k, v in _bulk_uris(item).items()})
    return found


def _value(data: bytes, path: str) -> bytes:
    ds = top = dcmread(io.BytesIO(data))
    steps = path.split("/")
    for tag, index in zip(steps[::2], steps[1::2], strict=False):
        ds = ds[int(tag, 16)].value[int(index)]
    element = ds[int(steps[-1], 16)]
    if top.is_little_endian or element.VR not in ("OW", "OF", "OL", "OD", "OV"):
        return bytes(element.value)
    size = {"OW": 2, "OF": 4, "OL": 4}.get(element.VR, 8)
    return np.frombuffer(element.value, f">u{size}").astype(f"<u{size}").tobytes()


@pytest.mark.parametrize(
    "name",
    [
        "waveform_ecg.dcm",
        "MR-SIEMENS-DICOM-WithOverlays.dcm",
        "emri_small_big_endian.dcm",
        "rtdose.dcm",
        "image_dfl.dcm",
    ],
)
async def test_every_bulk_data_uri_serves_its_value(http: httpx.AsyncClient, name: str) -> None:
    metadata, data = await _metadata(http, name)
    uris = _bulk_uris(metadata)
    assert uris
    for path, uri in uris.items():
        response = await http.get(uri, headers={"accept": "application/octet-stream"})
        assert response.status_code == 200, (path, response.text)
        assert response.content == _value(data, path), path
        multipart = await http.get(uri, headers={"accept": 'multipart/related; type="*/*"'})
        assert [body for _, body in await parts_of(multipart)] == [response.content]


async def test_range_of_native_pixel_data(http: httpx.AsyncClient) -> None:
    metadata, data = await _metadata(http, "CT_small.dcm")
    uri = metadata["7FE00010"]["BulkDataURI"]
    value = _value(data, "7FE00010")
    partial = await http.get(
        uri, headers={"accept": "application/octet-stream", "range": "bytes=10-99"}
    )
    assert partial.status_code == 206
    assert partial.content == value[10:100]
    assert partial.headers["content-range"] == f"bytes 10-99/{len(value)}"
    suffix = await http.get(
        uri, headers={"range": "bytes=-5", "accept": "application/octet-stream"}
    )
    assert suffix.content == value[-5:]
    beyond = await http.get(
        uri,
        headers={"range": f"bytes={len(value)}-", "accept": "*/*;q=0.1, application/octet-stream"},
    )
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(value)}"


async def test_encapsulated_pixel_data_is_its_frames(http: httpx.AsyncClient) -> None:
    metadata, data = await _metadata(http, "emri_small_jpeg_ls_lossless.dcm")
    uri = metadata["7FE00010"]["BulkDataURI"]
    ds = dcmread(io.BytesIO(data))
    response = await http.get(uri, headers={"accept": 'multipart/related; type="image/jls"'})
    parts = await parts_of(response)
    assert [body for _, body in parts] == list(generate_frames(ds.PixelData, number_of_frames=10))


async def test_unknown_bulk_data_is_404(http: httpx.AsyncClient) -> None:
    metadata, _ = await _metadata(http, "CT_small.dcm")
    uri = metadata["7FE00010"]["BulkDataURI"]
    for path in ("00100010", "7FE00010/0/00100010", "nonsense", ""):
        response = await http.get(uri.replace("7FE00010", path))
        assert response.status_code == 404, path


async def test_dicomweb_client_retrieve_bulkdata(http: httpx.AsyncClient, base_url: str) -> None:
    metadata, data = await _metadata(http, "waveform_ecg.dcm")
    uris = _bulk_uris(metadata)
    client = DICOMwebClient(url=f"{base_url}/v2")
    for path, uri in uris.items():
        values = await asyncio.to_thread(client.retrieve_bulkdata, uri)
        assert [bytes(v) for v in values] == [_value(data, path)]
