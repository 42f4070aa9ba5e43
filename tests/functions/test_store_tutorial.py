"""The store requests of the Azure DICOM service's cURL tutorial, sent with curl itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from shared.clients import Clients
from tests.data.builders import SERIES_1, SERIES_2, TUTORIAL, TUTORIAL_STUDY, tutorial_file
from tests.functions.storage_checks import (
    instance_doc,
    ref_of,
    series_doc,
    stored_file,
    study_doc,
)

pytestmark = pytest.mark.integration

MULTIPART = 'Content-Type: multipart/related; type="application/dicom"'


def curl(*args: str) -> tuple[int, dict[str, str], bytes]:
    """Run curl and return status, response headers (lower-cased) and body."""
    result = subprocess.run(
        ["curl", "-sS", "-D", "-", "-X", "POST", "-H", "Accept: application/dicom+json", *args],
        capture_output=True,
        check=True,
        timeout=60,
    )
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tutorial")
    paths = {}
    for name in TUTORIAL:
        paths[name] = folder / f"{name}.dcm"
        paths[name].write_bytes(tutorial_file(name))
    return paths


def referenced(body: bytes) -> list[str]:
    dataset = json.loads(body)
    return [item["00081155"]["Value"][0] for item in dataset["00081199"]["Value"]]


async def test_tutorial_uploads(base_url: str, files: dict[str, Path], storage: Clients) -> None:
    v2 = f"{base_url}/v2"
    # Other modules may have stored the tutorial study already: start from an empty study.
    subprocess.run(["curl", "-sS", "-X", "DELETE", f"{v2}/studies/{TUTORIAL_STUDY}"], check=True)
    # S1: curl --form builds a form-data part inside the multipart/related body.
    status, headers, body = curl(
        "-H",
        MULTIPART,
        "--form",
        f"file1=@{files['red-triangle']};type=application/dicom",
        f"{v2}/studies",
    )
    assert status == 200, body
    assert headers["content-type"] == "application/dicom+json"
    dataset = json.loads(body)
    assert dataset["00081190"]["Value"] == [f"{v2}/studies/{TUTORIAL_STUDY}"]
    item = dataset["00081199"]["Value"][0]
    red = TUTORIAL["red-triangle"]
    assert item["00081150"]["Value"] == ["1.2.840.10008.5.1.4.1.1.7"]
    assert item["00081155"]["Value"] == [red.sop_uid]
    assert item["00081190"]["Value"] == [
        f"{v2}/studies/{TUTORIAL_STUDY}/series/{SERIES_1}/instances/{red.sop_uid}"
    ]
    assert "00081198" not in dataset

    # S2: the study in the path.
    status, _, body = curl(
        "-H",
        MULTIPART,
        "--form",
        f"file1=@{files['blue-circle']};type=application/dicom",
        f"{v2}/studies/{TUTORIAL_STUDY}",
    )
    assert status == 200, body
    assert referenced(body) == [TUTORIAL["blue-circle"].sop_uid]

    # S3: single part application/dicom.
    status, headers, body = curl(
        "-H",
        "Content-Type: application/dicom",
        "--data-binary",
        f"@{files['green-square']}",
        f"{v2}/studies",
    )
    assert status == 200, body
    assert referenced(body) == [TUTORIAL["green-square"].sop_uid]

    # The files are in blob storage byte for byte, the index has the documents.
    for name, path in files.items():
        spec = TUTORIAL[name]
        ref = ref_of(TUTORIAL_STUDY, spec.series_uid, spec.sop_uid)
        assert await stored_file(storage, ref) == path.read_bytes()
        doc = await instance_doc(storage, ref)
        assert doc is not None and doc["status"] == "created"
        assert doc["q"]["PatientName"] == {"groups": ["anony mous"], "words": ["anony", "mous"]}
        assert doc["q"]["PatientID"] == "ID1"
    ref = ref_of(TUTORIAL_STUDY, SERIES_1, TUTORIAL["red-triangle"].sop_uid)
    series = await series_doc(storage, ref.series)
    assert series is not None and series["numberOfInstances"] == 2
    other = await series_doc(storage, ref_of(TUTORIAL_STUDY, SERIES_2, "1").series)
    assert other is not None and other["numberOfInstances"] == 1
    study = await study_doc(storage, ref.study)
    assert study is not None
    assert (study["numberOfSeries"], study["numberOfInstances"]) == (2, 3)
    assert study["modalities"] == ["OT"]
    assert study["json"]["00100020"] == {"vr": "LO", "Value": ["ID1"]}

    # A second upload of the same file fails with 45070, and changes nothing.
    status, _, body = curl(
        "-H",
        "Content-Type: application/dicom",
        "--data-binary",
        f"@{files['green-square']}",
        f"{v2}/studies",
    )
    assert status == 409
    failed = json.loads(body)["00081198"]["Value"][0]
    assert failed["00081197"]["Value"] == [45070]
    assert failed["00081155"]["Value"] == [TUTORIAL["green-square"].sop_uid]
    study = await study_doc(storage, ref.study)
    assert study is not None and study["numberOfInstances"] == 3


@pytest.mark.parametrize(
    "content_type",
    [
        'multipart/related; type="application/dicom"; boundary=ABCD1234',
        "multipart/related; boundary=ABCD1234",
        "multipart/related",
    ],
)
def test_tutorial_content_type_variants(base_url: str, tmp_path: Path, content_type: str) -> None:
    """curl --form with each Content-Type the tutorial lists (curl adds a boundary if absent)."""
    from tests.data.builders import with_fresh_uids

    data, ds = with_fresh_uids("CT_small.dcm")
    path = tmp_path / "ct.dcm"
    path.write_bytes(data)
    status, _, body = curl(
        "-H",
        f"Content-Type: {content_type}",
        "--form",
        f"file=@{path};type=application/dicom",
        f"{base_url}/v1/studies",
    )
    # With a boundary already in the header, curl appends a second one and frames the body with
    # it; the service follows the delimiter that opens the body.
    assert status == 200, body
    assert referenced(body) == [str(ds.SOPInstanceUID)]
