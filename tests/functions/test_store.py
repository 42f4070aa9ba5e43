"""STOW-RS over HTTP through the local host, against Azurite and the Cosmos DB emulator."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from shared.clients import Clients
from tests.conftest import MAX_REQUEST_BYTES
from tests.data.builders import corpus_path, multipart, to_bytes, with_fresh_uids, with_vr
from tests.functions.storage_checks import (
    blob_names,
    instance_doc,
    ref_of,
    series_doc,
    stored_file,
    stored_sidecar,
    study_doc,
)

pytestmark = pytest.mark.integration

DICOM_JSON = "application/dicom+json"
RELATED = 'multipart/related; type="application/dicom"; boundary=DICOMwebBoundary'
# Orthanc 1.10's form: two UUIDs joined by a dash, 73 characters, past RFC 2046's 70.
ORTHANC_BOUNDARY = "0b9e5d2c-63f1-4b8e-a7d4-2f6c1e9a8b30-5d7c3a1e-9f24-4c6b-8e1a-7b3d5f9c2e41"
QUOTED_BOUNDARY = "a quoted: boundary; with (spaces)"


def ct(study: str | None = None, series: str | None = None) -> tuple[bytes, Any]:
    return with_fresh_uids("CT_small.dcm", study_uid=study, series_uid=series)


async def post(
    http: httpx.AsyncClient,
    content: bytes | AsyncIterator[bytes],
    content_type: str = RELATED,
    path: str = "/v2/studies",
    method: str = "POST",
    **headers: str,
) -> httpx.Response:
    sent = {"content-type": content_type, "accept": DICOM_JSON}
    sent.update({k.replace("_", "-").lower(): v for k, v in headers.items()})
    return await http.request(method, path, content=content, headers=sent)


def stored_uids(response: httpx.Response) -> list[str]:
    dataset = response.json()
    return [i["00081155"]["Value"][0] for i in dataset.get("00081199", {}).get("Value", [])]


def failures(response: httpx.Response) -> list[int]:
    dataset = response.json()
    return [i["00081197"]["Value"][0] for i in dataset.get("00081198", {}).get("Value", [])]


async def chunked(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize(
    ("content_type", "framing"),
    [
        ('multipart/related; type="application/dicom"; boundary=DICOMwebBoundary', {}),
        ('multipart/related; boundary="DICOMwebBoundary"; type="application/dicom"', {}),
        ("multipart/related; type=application/dicom; boundary=DICOMwebBoundary", {}),
        ("multipart/related; boundary=DICOMwebBoundary", {}),
        ("Multipart/Related; Boundary=DICOMwebBoundary; Type=Application/Dicom", {}),
        (
            f'multipart/related; type="application/dicom"; boundary={ORTHANC_BOUNDARY}',
            {"boundary": ORTHANC_BOUNDARY},
        ),
        (f'multipart/related; boundary="{QUOTED_BOUNDARY}"', {"boundary": QUOTED_BOUNDARY}),
        (RELATED, {"preamble": b"\r\n"}),
        (RELATED, {"close": b""}),
        (RELATED, {"close": b"\r\nepilogue\r\n"}),
        (RELATED, {"part_headers": [""]}),
        (
            RELATED,
            {
                "part_headers": [
                    "Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
                ]
            },
        ),
        (
            RELATED,
            {
                "part_headers": [
                    'Content-Disposition: form-data; name="file1"; filename="ct.dcm"\r\n'
                    "Content-Type: application/dicom"
                ]
            },
        ),
    ],
)
async def test_multipart_framings(
    http: httpx.AsyncClient, storage: Clients, content_type: str, framing: dict[str, Any]
) -> None:
    data, ds = ct()
    response = await post(http, multipart([data], **framing), content_type)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == DICOM_JSON
    assert stored_uids(response) == [ds.SOPInstanceUID]
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert await stored_file(storage, ref) == data


async def test_chunked_body_and_no_accept(http: httpx.AsyncClient, storage: Clients) -> None:
    study = generate_uid()
    files = [ct(study) for _ in range(3)]
    body = multipart([f for f, _ in files])
    response = await http.post(
        f"/v1/studies/{study}", content=chunked(body, 7919), headers={"Content-Type": RELATED}
    )
    assert response.status_code == 200, response.text
    assert sorted(stored_uids(response)) == sorted(ds.SOPInstanceUID for _, ds in files)
    study_ref = ref_of(study, "1", "1").study
    doc = await study_doc(storage, study_ref)
    assert doc is not None and doc["numberOfInstances"] == 3 and doc["numberOfSeries"] == 3


async def test_single_part_application_dicom(http: httpx.AsyncClient, storage: Clients) -> None:
    data, ds = ct()
    response = await post(http, chunked(data), "application/dicom", path="/v1/studies")
    assert response.status_code == 200, response.text
    assert stored_uids(response) == [ds.SOPInstanceUID]
    assert response.json()["00081190"]["Value"][0].endswith(f"/v1/studies/{ds.StudyInstanceUID}")


async def test_json_accept_and_wildcards(http: httpx.AsyncClient) -> None:
    for accept in ("application/json", "*/*", "text/html;q=0.5, application/dicom+json"):
        data, _ = ct()
        response = await post(http, multipart([data]), accept=accept)
        assert response.status_code == 200, (accept, response.text)


@pytest.mark.parametrize(
    ("content_type", "headers", "status"),
    [
        (RELATED, {"accept": "application/dicom"}, 406),
        (RELATED, {"accept": "text/html, application/dicom+json;q=0"}, 406),
        ("application/json", {}, 415),
        ('multipart/related; type="application/dicom+json"; boundary=x', {}, 415),
        ("multipart/related; type=application/dicom", {}, 400),
        ("not a media type", {}, 415),
    ],
)
async def test_request_level_errors(
    http: httpx.AsyncClient, content_type: str, headers: dict[str, str], status: int
) -> None:
    data, _ = ct()
    response = await post(http, multipart([data]), content_type, **headers)
    assert response.status_code == status, response.text
    assert response.text.strip()
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("boundary", "message"),
    [('""', "the boundary is empty"), ("b" * 257, "longer than 256 characters")],
)
async def test_unreadable_boundary_is_400(
    http: httpx.AsyncClient, boundary: str, message: str
) -> None:
    data, _ = ct()
    body = multipart([data], boundary=boundary.strip('"'))
    response = await post(http, body, f"multipart/related; boundary={boundary}")
    assert response.status_code == 400, response.text
    assert message in response.text


async def test_missing_content_type_is_415(http: httpx.AsyncClient) -> None:
    response = await http.post("/v2/studies", content=b"x", headers={"Accept": DICOM_JSON})
    assert response.status_code == 415


@pytest.mark.parametrize("study", ["1.2.3.abc", "1" * 65, "1..2", "01.2", "1.2.-3"])
async def test_invalid_study_in_path_is_400(http: httpx.AsyncClient, study: str) -> None:
    data, _ = ct()
    response = await post(http, multipart([data]), path=f"/v2/studies/{study}")
    assert response.status_code == 400
    assert "study" in response.text.lower()


async def test_empty_multipart_is_204(http: httpx.AsyncClient) -> None:
    response = await post(http, b"--DICOMwebBoundary--\r\n")
    assert response.status_code == 204
    assert response.content == b""


async def test_truncated_multipart_is_400_and_stores_nothing(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    data, ds = ct()
    body = multipart([data])
    response = await post(http, body[: len(body) // 2])
    assert response.status_code == 400
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert await instance_doc(storage, ref) is None
    assert await blob_names(storage, ref.study.blob_prefix) == []


async def test_study_mismatch_43265(http: httpx.AsyncClient) -> None:
    study = generate_uid()
    good, good_ds = ct(study)
    other, other_ds = ct()
    response = await post(http, multipart([good, other]), path=f"/v2/studies/{study}")
    assert response.status_code == 202
    assert stored_uids(response) == [good_ds.SOPInstanceUID]
    assert failures(response) == [43265]
    failed = response.json()["00081198"]["Value"][0]
    assert failed["00081155"]["Value"] == [other_ds.SOPInstanceUID]
    response = await post(http, multipart([ct()[0]]), path=f"/v2/studies/{study}")
    assert response.status_code == 409
    assert failures(response) == [43265]


async def test_unreadable_parts_fail_with_272(http: httpx.AsyncClient) -> None:
    no_meta = corpus_path("no_meta.dcm").read_bytes()
    parts = [b"", b"this is not DICOM" * 20, no_meta, ct()[0]]
    response = await post(http, multipart(parts))
    assert response.status_code == 202, response.text
    assert failures(response) == [272, 272, 272]
    assert len(stored_uids(response)) == 1
    for item in response.json()["00081198"]["Value"]:
        comments = item["00741048"]["Value"]
        assert comments and comments[0]["00000902"]["Value"][0]


async def test_missing_uid_fails_with_43264(http: httpx.AsyncClient) -> None:
    _data, ds = ct()
    del ds.SOPInstanceUID
    response = await post(http, multipart([to_bytes(ds)]))
    assert response.status_code == 409
    assert failures(response) == [43264]
    comment = response.json()["00081198"]["Value"][0]["00741048"]["Value"][0]
    assert "SOPInstanceUID" in comment["00000902"]["Value"][0]


@pytest.mark.parametrize(
    ("tag", "keyword"),
    [
        (0x0020000D, "StudyInstanceUID"),
        (0x0020000E, "SeriesInstanceUID"),
        (0x00080018, "SOPInstanceUID"),
    ],
)
async def test_unknown_vr_on_a_required_uid_fails_with_43264(
    http: httpx.AsyncClient, tag: int, keyword: str
) -> None:
    data, _ = ct()
    response = await post(http, with_vr(data, tag, b"ZZ"), content_type="application/dicom")
    assert response.status_code == 409, response.text
    assert failures(response) == [43264]
    comment = response.json()["00081198"]["Value"][0]["00741048"]["Value"][0]
    assert comment["00000902"]["Value"][0].startswith(
        f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {keyword}"
    )


async def test_invalid_searchable_attribute_v1_fails_v2_warns(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    _, ds = ct()
    ds.StudyDate = "2020-09-22"
    data = to_bytes(ds)
    v1 = await post(http, multipart([data]), path="/v1/studies")
    assert v1.status_code == 409
    assert failures(v1) == [43264]
    assert "StudyDate" in json.dumps(v1.json())
    assert "2020-09-22" not in v1.text

    v2 = await post(http, multipart([data]), path="/v2/studies")
    assert v2.status_code == 202
    item = v2.json()["00081199"]["Value"][0]
    assert item["00081196"]["Value"] == [1]
    comment = item["00741048"]["Value"][0]["00000902"]["Value"][0]
    assert "(0008,0020)" in comment and "2020-09-22" not in comment
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    doc = await instance_doc(storage, ref)
    assert doc is not None and "StudyDate" not in doc["q"] and "00080020" not in doc["json"]
    assert await stored_file(storage, ref) == data


async def test_duplicate_post_45070_and_put_replaces(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    data, ds = ct()
    assert (await post(http, multipart([data]))).status_code == 200
    again = await post(http, multipart([data]))
    assert again.status_code == 409 and failures(again) == [45070]

    ds.StudyDescription = "replaced"
    replacement = to_bytes(ds)
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    before = await instance_doc(storage, ref)
    put = await post(http, multipart([replacement]), method="PUT")
    assert put.status_code == 200, put.text
    assert await stored_file(storage, ref) == replacement
    after = await instance_doc(storage, ref)
    assert before is not None and after is not None and after["version"] != before["version"]
    # The replaced copy's blobs are gone; one version remains.
    assert len(await blob_names(storage, ref.blob_prefix)) == 2
    study = await study_doc(storage, ref.study)
    assert study is not None and study["numberOfInstances"] == 1
    assert study["json"]["00081030"]["Value"] == ["replaced"]

    patch = await post(http, multipart([replacement]), method="PATCH", path="/v1/studies")
    assert patch.status_code == 405
    assert set(patch.headers["allow"].split(", ")) >= {"POST", "PUT"}


async def test_put_of_a_new_instance_stores_it(http: httpx.AsyncClient, storage: Clients) -> None:
    data, ds = ct()
    response = await post(
        http, multipart([data]), method="PUT", path=f"/v2/studies/{ds.StudyInstanceUID}"
    )
    assert response.status_code == 200, response.text
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert await stored_file(storage, ref) == data


async def test_concurrent_stores_into_one_study_keep_exact_counts(
    base_url: str, storage: Clients
) -> None:
    study = generate_uid()
    series = [generate_uid() for _ in range(3)]
    clients, per_client = 8, 5

    async def client(n: int) -> list[int]:
        statuses = []
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
            for i in range(per_client):
                data, _ = ct(study, series[(n + i) % 3])
                response = await post(http, multipart([data]))
                statuses.append(response.status_code)
        return statuses

    results = await asyncio.gather(*(client(n) for n in range(clients)))
    assert all(s == 200 for statuses in results for s in statuses)
    ref = ref_of(study, series[0], "1")
    doc = await study_doc(storage, ref.study)
    assert doc is not None
    assert doc["numberOfInstances"] == clients * per_client
    assert doc["numberOfSeries"] == 3
    counts = []
    for s in series:
        sdoc = await series_doc(storage, ref_of(study, s, "1").series)
        assert sdoc is not None
        counts.append(sdoc["numberOfInstances"])
    assert sum(counts) == clients * per_client


async def test_racing_stores_of_one_instance_store_it_once(base_url: str, storage: Clients) -> None:
    data, ds = ct()

    async def attempt() -> httpx.Response:
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
            return await post(http, multipart([data]))

    responses = await asyncio.gather(*(attempt() for _ in range(6)))
    ok = [r for r in responses if r.status_code == 200]
    assert len(ok) == 1
    for r in responses:
        if r.status_code != 200:
            assert r.status_code == 409 and failures(r)[0] in (45070, 45071)
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert await stored_file(storage, ref) == data
    assert len(await blob_names(storage, ref.blob_prefix)) == 2
    study = await study_doc(storage, ref.study)
    assert study is not None and study["numberOfInstances"] == 1


async def test_content_length_over_the_limit_is_413_before_writing(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    data, ds = ct()
    body = multipart([data], preamble=b"\r\n" * ((MAX_REQUEST_BYTES - len(data)) // 2 + 10))
    assert len(body) > MAX_REQUEST_BYTES
    response = await post(http, body)
    assert response.status_code == 413
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert await blob_names(storage, ref.study.blob_prefix) == []


async def test_frames_and_metadata_are_precomputed(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    data, ds = with_fresh_uids("color3d_jpeg_baseline.dcm")
    response = await post(http, multipart([data]))
    assert response.status_code == 200, response.text
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    sidecar = await stored_sidecar(storage, ref)
    assert sidecar is not None and sidecar.frames is not None
    assert len(sidecar.frames) == int(ds.NumberOfFrames) == 120
    # Each frame's byte ranges, read from the stored file, hold one JPEG codestream.
    stored = await stored_file(storage, ref)
    assert stored is not None
    for frame in sidecar.frames[::17]:
        codestream = b"".join(stored[o : o + n] for o, n in frame)
        assert codestream[:2] == b"\xff\xd8"
        assert codestream.rstrip(b"\0")[-2:] == b"\xff\xd9"
    assert sidecar.metadata["7FE00010"]["BulkDataURI"] == "bulkdata/7FE00010"
    assert sidecar.metadata["00100010"]["vr"] == "PN"
    parsed = dcmread(io.BytesIO(stored), stop_before_pixels=True)
    assert parsed.SOPInstanceUID == ds.SOPInstanceUID
