"""Real files outside the corpus test: character sets, broken files, a real DICOMweb client."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.data import get_charset_files
from pydicom.uid import generate_uid

from shared.clients import Clients
from tests.data.builders import corpus_path, multipart, tutorial_dataset, with_fresh_uids
from tests.functions.storage_checks import ref_of, stored_file, stored_sidecar
from tests.functions.test_store import failures, post, stored_uids

pytestmark = pytest.mark.integration

# Files outside the corpus (tests/data/corpus.py) because pydicom cannot read them whole or
# finds no UIDs in them; the corpus test lists the refusals among the files pydicom reads.
REFUSED = {
    "no_meta.dcm": 272,
    "rtstruct.dcm": 272,
    "meta_missing_tsyntax.dcm": 272,
    "emri_small_jpeg_2k_lossless_too_short.dcm": 272,
}


async def test_character_sets_are_stored_and_indexed(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    # Every character-set sample that has a SOP Class (two are bare sequence fixtures).
    sources = [Path(p).read_bytes() for p in get_charset_files("chr*.dcm")]
    files = [with_fresh_uids(data) for data in sources]
    files = [(data, ds) for data, ds in files if "SOPClassUID" in ds]
    assert len(files) >= 15
    response = await post(http, multipart([data for data, _ in files]))
    assert response.status_code in (200, 202), response.text
    assert len(stored_uids(response)) == len(files)
    for _, ds in files:
        ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        sidecar = await stored_sidecar(storage, ref)
        assert sidecar is not None
        name = sidecar.metadata["00100010"]["Value"][0]
        assert name["Alphabetic"] == str(ds.PatientName.alphabetic)


@pytest.mark.parametrize(("name", "reason"), sorted(REFUSED.items()))
async def test_broken_files_are_refused(http: httpx.AsyncClient, name: str, reason: int) -> None:
    response = await post(http, multipart([corpus_path(name).read_bytes()]))
    assert response.status_code == 409, response.text
    assert failures(response) == [reason]


async def test_file_without_uids_is_refused_with_43264(http: httpx.AsyncClient) -> None:
    ds = dcmread(corpus_path("nested_priv_SQ.dcm"), force=True)
    assert "SOPInstanceUID" not in ds
    response = await post(http, multipart([corpus_path("nested_priv_SQ.dcm").read_bytes()]))
    assert response.status_code == 409, response.text
    assert failures(response) == [43264]


def test_dicomweb_client_store_instances(base_url: str) -> None:
    """The Python dicomweb-client sends chunked bodies with its own framing."""
    client = DICOMwebClient(url=f"{base_url}/v2")
    study = generate_uid()
    datasets = [with_fresh_uids("MR_small.dcm", study_uid=study)[1] for _ in range(3)]
    result = client.store_instances(datasets)
    stored = [item.ReferencedSOPInstanceUID for item in result.ReferencedSOPSequence]
    assert sorted(stored) == sorted(ds.SOPInstanceUID for ds in datasets)
    assert "FailedSOPSequence" not in result

    tutorial = tutorial_dataset("red-triangle")
    tutorial.StudyInstanceUID = generate_uid()
    tutorial.SOPInstanceUID = generate_uid()
    tutorial.file_meta.MediaStorageSOPInstanceUID = tutorial.SOPInstanceUID
    result = client.store_instances([tutorial], study_instance_uid=tutorial.StudyInstanceUID)
    assert result.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == tutorial.SOPInstanceUID


async def test_dicomweb_client_large_chunked_upload(base_url: str, storage: Clients) -> None:
    """Bodies over 1 MB go out chunked from dicomweb-client; store a ~6 MB multi-frame file."""
    _, ds = with_fresh_uids("color3d_jpeg_baseline.dcm")
    client = DICOMwebClient(url=f"{base_url}/v1")
    result = await asyncio.to_thread(client.store_instances, [ds])
    assert result.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    stored = await stored_file(storage, ref)
    assert stored is not None and dcmread(io.BytesIO(stored)).NumberOfFrames == 120
