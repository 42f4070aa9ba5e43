"""Every corpus file stored, then retrieved as stored and transcoded; and dicomweb-client."""

from __future__ import annotations

import asyncio
import io

import httpx
import numpy as np
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid

from tests.data.builders import with_fresh_uids
from tests.functions.retrieve_checks import EXPLICIT, parts_of, pixels, store_all, syntax_of
from tests.functions.test_store_corpus import ACCEPTED

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def corpus(base_url: str) -> tuple[str, dict[str, bytes]]:
    """The corpus stored as one study; SOP Instance UID to file bytes."""
    study = generate_uid()
    made = [with_fresh_uids(name, study_uid=study) for name in ACCEPTED]
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        await store_all(http, [data for data, _ in made])
    return study, {str(ds.SOPInstanceUID): data for data, ds in made}


def _sop(data: bytes) -> str:
    return str(dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


async def test_study_as_stored_is_byte_identical(
    http: httpx.AsyncClient, corpus: tuple[str, dict[str, bytes]]
) -> None:
    study, files = corpus
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    response = await http.get(f"/v2/studies/{study}", headers={"accept": accept})
    assert response.status_code == 200, response.text
    parts = await parts_of(response)
    assert {_sop(body): body for _, body in parts} == files


async def test_study_in_explicit_vr_little_endian_keeps_pixels(
    http: httpx.AsyncClient, corpus: tuple[str, dict[str, bytes]]
) -> None:
    study, files = corpus
    accept = f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT}'
    response = await http.get(f"/v2/studies/{study}", headers={"accept": accept})
    assert response.status_code == 200, response.text
    parts = await parts_of(response)
    assert len(parts) == len(files)
    for content_type, body in parts:
        assert content_type == f"application/dicom; transfer-syntax={EXPLICIT}"
        assert syntax_of(body) == EXPLICIT
        original = files[_sop(body)]
        ds = dcmread(io.BytesIO(original))
        if "PixelData" in ds:
            assert np.array_equal(pixels(body), pixels(original)), _sop(body)


def _client(base_url: str) -> DICOMwebClient:
    return DICOMwebClient(url=f"{base_url}/v2")


async def test_dicomweb_client_retrieves(
    base_url: str, corpus: tuple[str, dict[str, bytes]]
) -> None:
    study, files = corpus
    client = _client(base_url)
    by_name = {name: files[uid] for name, uid in zip(ACCEPTED, files, strict=True)}
    multiframe = dcmread(io.BytesIO(by_name["examples_ybr_color.dcm"]))
    series_uid = str(multiframe.SeriesInstanceUID)
    sop_uid = str(multiframe.SOPInstanceUID)

    def run() -> None:
        instances = client.retrieve_study(study)
        assert sorted(str(ds.SOPInstanceUID) for ds in instances) == sorted(files)
        series = client.retrieve_series(study, series_uid)
        assert [str(ds.SOPInstanceUID) for ds in series] == [sop_uid]
        instance = client.retrieve_instance(study, series_uid, sop_uid)
        assert instance.file_meta.TransferSyntaxUID == multiframe.file_meta.TransferSyntaxUID
        explicit = client.retrieve_instance(
            study, series_uid, sop_uid, media_types=(("application/dicom", EXPLICIT),)
        )
        assert explicit.file_meta.TransferSyntaxUID == EXPLICIT
        assert np.array_equal(explicit.pixel_array, multiframe.pixel_array)
        stored = list(generate_frames(multiframe.PixelData, number_of_frames=30))
        as_stored = client.retrieve_instance_frames(study, series_uid, sop_uid, [5, 2])
        assert as_stored == [stored[4], stored[1]]
        raw = client.retrieve_instance_frames(
            study,
            series_uid,
            sop_uid,
            [3],
            media_types=(("application/octet-stream", "*"),),
        )
        assert raw == [stored[2]]
        uncompressed = client.retrieve_instance_frames(
            study, series_uid, sop_uid, [3], media_types=("application/octet-stream",)
        )
        assert uncompressed == [multiframe.pixel_array[2].tobytes()]
        metadata = client.retrieve_study_metadata(study)
        assert len(metadata) == len(files)
        assert len(client.retrieve_series_metadata(study, series_uid)) == 1
        instance_metadata = client.retrieve_instance_metadata(study, series_uid, sop_uid)
        assert instance_metadata["00080018"]["Value"] == [sop_uid]

    await asyncio.to_thread(run)
