"""The JavaScript dicomweb-client (npm `dicomweb-client`, run in Node) as a browser app uses it.

`dicomweb_client.mjs` stores corpus files with fresh UIDs, finds them again through QIDO-RS,
reads the study's metadata and retrieves every instance, its first and last frames, its Pixel
Data and the whole study, following only the UIDs the service answers with. Its summary is
checked here against pydicom reading the files that were sent: the search results hold exactly
the stored UIDs, the metadata values are the files' values, the instances are the files' data
sets (byte for byte when stored in the syntax the client asks for), and the frames are the frame
bytes of the files, as stored or decoded.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.conftest import ROOT
from tests.data.builders import to_bytes, with_fresh_uids
from tests.functions.dicom_json_match import json_differences, oracle_json

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).with_name("dicomweb_client.mjs")
NODE_TIMEOUT = 300
# Series of the study: corpus files. Uncompressed and compressed, single and multi-frame.
SERIES = (
    ("emri_small.dcm", "emri_small_jpeg_2k_lossless.dcm"),
    ("CT_small.dcm", "SC_rgb_rle_2frame.dcm"),
)
# The media type the frames of each stored syntax come in when asked for as stored.
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.1": "application/octet-stream",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


@dataclass(frozen=True)
class Run:
    """What was sent (by SOP Instance UID) and what the client reported."""

    sent: dict[str, Dataset]
    files: dict[str, bytes]
    summary: dict[str, Any]
    saved: Path


@pytest.fixture(scope="module")
def run(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` is not on PATH; install Node.js 20 or later")
    folder = tmp_path_factory.mktemp("dicomweb-client")
    saved = folder / "retrieved"
    saved.mkdir()
    patient_id = f"JS-{uuid.uuid4().hex[:12]}"
    study_uid = generate_uid()
    sent: dict[str, Dataset] = {}
    files: dict[str, bytes] = {}
    paths = []
    for names in SERIES:
        series_uid = generate_uid()
        for name in names:
            _, ds = with_fresh_uids(name, study_uid=study_uid, series_uid=series_uid)
            ds.PatientID = patient_id
            data = to_bytes(ds)
            path = folder / name
            path.write_bytes(data)
            paths.append(str(path))
            sent[ds.SOPInstanceUID] = ds
            files[ds.SOPInstanceUID] = data
    command = [node, str(SCRIPT), "--patient-id", patient_id, "--save-instances", str(saved)]
    result = subprocess.run(
        [*command, f"{base_url}/v2", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return Run(sent, files, json.loads(result.stdout), saved)


def _by_series(sent: dict[str, Dataset]) -> dict[str, list[str]]:
    series: dict[str, list[str]] = {}
    for sop_uid, ds in sent.items():
        series.setdefault(ds.SeriesInstanceUID, []).append(sop_uid)
    return {uid: sorted(sops) for uid, sops in series.items()}


def test_store_references_every_instance(run: Run) -> None:
    assert run.summary["stored"] == {"referenced": sorted(run.sent), "failed": []}


def test_searches_find_exactly_the_stored_uids(run: Run) -> None:
    study_uids = sorted({ds.StudyInstanceUID for ds in run.sent.values()})
    by_series = _by_series(run.sent)
    assert run.summary["studiesByPatientID"] == study_uids
    assert run.summary["studiesByStudyInstanceUID"] == study_uids
    assert run.summary["series"] == sorted(by_series)
    assert run.summary["instances"] == by_series


def test_study_metadata_holds_the_values_of_the_files(run: Run) -> None:
    metadata = run.summary["metadata"]
    assert sorted(metadata) == sorted(run.sent)
    for sop_uid, ds in run.sent.items():
        differences = json_differences(oracle_json(ds), metadata[sop_uid])
        assert not differences, (sop_uid, differences)


def _pixels(ds: Dataset) -> np.ndarray:
    array = np.asarray(ds.pixel_array)
    return array.astype(array.dtype.newbyteorder("="))


def test_instances_are_the_data_sets_sent(run: Run) -> None:
    retrieved = run.summary["retrieved"]
    assert sorted(retrieved) == sorted(run.sent)
    for sop_uid, sent in run.sent.items():
        data = (run.saved / f"{sop_uid}.dcm").read_bytes()
        report = retrieved[sop_uid]
        assert report["length"] == len(data)
        assert report["sha256"] == hashlib.sha256(data).hexdigest()
        # No transfer syntax asked for: Explicit VR Little Endian, the stored file itself when
        # it is in that syntax.
        assert report["contentType"] == "application/dicom"
        assert report["transferSyntaxUID"] == ExplicitVRLittleEndian
        if sent.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian:
            assert data == run.files[sop_uid], sop_uid
        got = dcmread(io.BytesIO(data))
        assert got.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian, sop_uid
        original = dcmread(io.BytesIO(run.files[sop_uid]))
        np.testing.assert_array_equal(_pixels(got), _pixels(original))
        del got.PixelData, original.PixelData
        assert got == original, sop_uid


def _frame_count(ds: Dataset) -> int:
    return int(ds.get("NumberOfFrames") or 1)


def _frames_as_stored(ds: Dataset) -> list[bytes]:
    """The file's frames as stored: codestreams of encapsulated pixel data, slices of native."""
    count = _frame_count(ds)
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        return list(generate_frames(ds.PixelData, number_of_frames=count))
    size = ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8
    return [ds.PixelData[i * size : (i + 1) * size] for i in range(count)]


def _frames_uncompressed(ds: Dataset) -> list[bytes]:
    """The file's frames decoded, little endian, as Explicit VR Little Endian holds them."""
    if not ds.file_meta.TransferSyntaxUID.is_encapsulated:
        return _frames_as_stored(ds)
    array = np.asarray(ds.pixel_array)
    array = array.astype(array.dtype.newbyteorder("<"))
    return [frame.tobytes() for frame in (array if _frame_count(ds) > 1 else array[np.newaxis])]


def _described(value: bytes, media_type: str, syntax: str) -> dict[str, Any]:
    """How the script describes a body it received."""
    return {
        "length": len(value),
        "sha256": hashlib.sha256(value).hexdigest(),
        "contentType": media_type,
        "transferSyntaxUID": syntax,
    }


def _reports(frames: list[bytes], media_type: str, syntax: str) -> list[dict[str, Any]]:
    """What the script reports for the first and last of `frames`."""
    return [
        {"number": number, **_described(frames[number - 1], media_type, syntax)}
        for number in sorted({1, len(frames)})
    ]


def test_frames_as_stored_are_the_frames_of_the_files(run: Run) -> None:
    frames = run.summary["framesAsStored"]
    assert sorted(frames) == sorted(run.sent)
    for sop_uid, ds in run.sent.items():
        syntax = str(ds.file_meta.TransferSyntaxUID)
        expected = _reports(_frames_as_stored(ds), FRAME_MEDIA_TYPES[syntax], syntax)
        assert frames[sop_uid] == expected, sop_uid


def test_frames_in_the_default_accept_are_uncompressed(run: Run) -> None:
    frames = run.summary["framesByDefault"]
    assert sorted(frames) == sorted(run.sent)
    for sop_uid, ds in run.sent.items():
        expected = _reports(
            _frames_uncompressed(ds), "application/octet-stream", ExplicitVRLittleEndian
        )
        assert frames[sop_uid] == expected, sop_uid


def test_pixel_data_at_its_bulk_data_uri_is_the_files_pixel_data(run: Run) -> None:
    """Native Pixel Data comes as one value; encapsulated as its frames, uncompressed, since the
    client's default Accept for bulk data names no transfer syntax."""
    pixel_data = run.summary["pixelData"]
    assert sorted(pixel_data) == sorted(run.sent)
    for sop_uid, ds in run.sent.items():
        if ds.file_meta.TransferSyntaxUID.is_encapsulated:
            values = _frames_uncompressed(ds)
        else:
            values = [ds.PixelData]
        assert pixel_data[sop_uid] == [
            _described(value, "application/octet-stream", ExplicitVRLittleEndian)
            for value in values
        ], sop_uid


def test_study_holds_every_instance_in_retrieve_order(run: Run) -> None:
    order = sorted(run.sent, key=lambda uid: (run.sent[uid].SeriesInstanceUID, uid))
    assert run.summary["study"] == [run.summary["retrieved"][uid] for uid in order]
