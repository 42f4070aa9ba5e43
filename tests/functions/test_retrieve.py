"""WADO-RS over HTTP through the local host: instances, metadata, negotiation and errors."""

from __future__ import annotations

import io

import httpx
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from tests.data.builders import multipart, with_fresh_uids, with_vr
from tests.functions.retrieve_checks import EXPLICIT, parts_of, pixels, store_all, syntax_of
from tests.functions.test_store import post

pytestmark = pytest.mark.integration

AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'


async def _study(http: httpx.AsyncClient, names: list[str]) -> tuple[str, list[bytes], list]:
    study = generate_uid()
    made = [with_fresh_uids(name, study_uid=study) for name in names]
    await store_all(http, [data for data, _ in made])
    return study, [data for data, _ in made], [ds for _, ds in made]


def _instance_path(ds: object) -> str:
    return (
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"  # type: ignore[attr-defined]
        f"/instances/{ds.SOPInstanceUID}"  # type: ignore[attr-defined]
    )


async def test_study_as_stored_is_byte_identical(http: httpx.AsyncClient) -> None:
    study, files, _ = await _study(http, ["CT_small.dcm", "JPEG-LL.dcm", "MR_small_RLE.dcm"])
    response = await http.get(f"/v1/studies/{study}", headers={"accept": AS_STORED})
    assert response.status_code == 200, response.text
    content_type = response.headers["content-type"]
    assert content_type.startswith('multipart/related; type="application/dicom"')
    parts = await parts_of(response)
    assert sorted(body for _, body in parts) == sorted(files)
    for content_type, body in parts:
        assert content_type == f"application/dicom; transfer-syntax={syntax_of(body)}"


async def test_default_syntax_is_explicit_vr_little_endian(http: httpx.AsyncClient) -> None:
    study, files, _ = await _study(http, ["JPEG-LL.dcm", "MR_small_bigendian.dcm"])
    response = await http.get(
        f"/v2/studies/{study}", headers={"accept": 'multipart/related; type="application/dicom"'}
    )
    assert response.status_code == 200, response.text
    parts = await parts_of(response)
    assert [t for t, _ in parts] == [f"application/dicom; transfer-syntax={EXPLICIT}"] * 2
    expected = sorted(pixels(f).tobytes() for f in files)
    assert sorted(pixels(body).tobytes() for _, body in parts) == expected
    assert all(syntax_of(body) == EXPLICIT for _, body in parts)


async def test_single_instance_as_application_dicom(http: httpx.AsyncClient) -> None:
    _, files, datasets = await _study(http, ["MR_small_jp2klossless.dcm"])
    path = _instance_path(datasets[0])
    response = await http.get(path, headers={"accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200, response.text
    assert response.content == files[0]
    assert response.headers["content-type"] == (
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90"
    )


async def test_series_and_unknown_resources(http: httpx.AsyncClient) -> None:
    study, files, datasets = await _study(http, ["CT_small.dcm"])
    ds = datasets[0]
    series = await http.get(
        f"/v2/studies/{study}/series/{ds.SeriesInstanceUID}", headers={"accept": AS_STORED}
    )
    assert [body for _, body in await parts_of(series)] == files
    for path in (
        f"/v2/studies/{generate_uid()}",
        f"/v2/studies/{study}/series/{generate_uid()}",
        f"/v2/studies/{study}/series/{ds.SeriesInstanceUID}/instances/{generate_uid()}",
        f"/v2/studies/{generate_uid()}/metadata",
    ):
        assert (await http.get(path)).status_code == 404, path
    assert (await http.get("/v2/studies/1.02.x")).status_code == 400


@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "application/dicom+json",
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50',
        "application/dicom",  # single part for a study
    ],
)
async def test_unproducible_types_are_406(http: httpx.AsyncClient, accept: str) -> None:
    study, _, _ = await _study(http, ["CT_small.dcm"])
    response = await http.get(f"/v2/studies/{study}", headers={"accept": accept})
    assert response.status_code == 406


@pytest.mark.parametrize(
    "accept",
    [
        "*/*",
        'multipart/related; type="*/*"',
        "multipart/related",
        "text/html, multipart/related; type=application/dicom; transfer-syntax=*;q=0.5",
        "junk;;=, multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2",
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50; '
        'q=0.9, multipart/related; type="application/dicom"; q=0.5',
    ],
)
async def test_accept_variants_resolve(http: httpx.AsyncClient, accept: str) -> None:
    study, _, _ = await _study(http, ["CT_small.dcm"])
    response = await http.get(f"/v2/studies/{study}", headers={"accept": accept})
    assert response.status_code == 200, response.text
    assert len(await parts_of(response)) == 1


async def test_implicit_rle_and_jpeg2000_outputs(http: httpx.AsyncClient) -> None:
    _, files, datasets = await _study(http, ["SC_rgb_jpeg_dcmtk.dcm"])
    path = _instance_path(datasets[0])
    for syntax in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.90"):
        response = await http.get(
            path, headers={"accept": f"application/dicom; transfer-syntax={syntax}"}
        )
        assert response.status_code == 200, (syntax, response.text)
        assert syntax_of(response.content) == syntax
        assert (pixels(response.content) == pixels(files[0])).all()


async def test_unknown_vr_is_carried_as_un_in_every_syntax(http: httpx.AsyncClient) -> None:
    """v2 stores an instance whose PatientName has a VR PS3.5 does not define (a warning); its
    bytes are kept, and a converted copy carries the element as UN (PS3.5 6.2.2)."""
    data, ds = with_fresh_uids("CT_small.dcm")
    unknown = with_vr(data, 0x00100010, b"ZZ")
    stored = await post(http, unknown, content_type="application/dicom")
    assert stored.status_code == 202, stored.text
    path = _instance_path(ds)
    as_stored = await http.get(path, headers={"accept": "application/dicom; transfer-syntax=*"})
    assert as_stored.content == unknown
    for syntax in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.5"):
        response = await http.get(
            path, headers={"accept": f"application/dicom; transfer-syntax={syntax}"}
        )
        assert response.status_code == 200, (syntax, response.text)
        converted = dcmread(io.BytesIO(response.content))
        assert converted.file_meta.TransferSyntaxUID == syntax
        original = dcmread(io.BytesIO(unknown)).get_item(0x00100010).value
        assert converted.get_item(0x00100010).value == original
        assert (pixels(response.content) == pixels(data)).all()


async def test_metadata_levels_and_etag(http: httpx.AsyncClient, base_url: str) -> None:
    study, _, datasets = await _study(http, ["CT_small.dcm", "MR_small.dcm"])
    ds = datasets[0]
    response = await http.get(f"/v2/studies/{study}/metadata")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom+json"
    body = response.json()
    assert len(body) == 2
    pixel_uris = sorted(item["7FE00010"]["BulkDataURI"] for item in body)
    assert pixel_uris == sorted(
        f"{base_url}{_instance_path(d)}/bulkdata/7FE00010" for d in datasets
    )
    etag = response.headers["etag"]
    again = await http.get(f"/v2/studies/{study}/metadata", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag

    series = await http.get(f"/v1/studies/{study}/series/{ds.SeriesInstanceUID}/metadata")
    assert [item["0020000E"]["Value"] for item in series.json()] == [[ds.SeriesInstanceUID]]
    assert series.json()[0]["7FE00010"]["BulkDataURI"].startswith(f"{base_url}/v1/")
    instance = await http.get(f"{_instance_path(ds)}/metadata", headers={"accept": "*/*"})
    assert instance.json()[0]["00080018"]["Value"] == [ds.SOPInstanceUID]

    more, _ = with_fresh_uids("CT_small.dcm", study_uid=study)
    await store_all(http, [more])
    changed = await http.get(f"/v2/studies/{study}/metadata", headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert len(changed.json()) == 3

    refused = await http.get(f"/v2/studies/{study}/metadata", headers={"accept": "text/xml"})
    assert refused.status_code == 406


async def test_other_methods_are_405(http: httpx.AsyncClient) -> None:
    study = generate_uid()
    response = await http.delete(f"/v2/studies/{study}/metadata")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


async def test_repeated_metadata_follows_the_root_and_replacements(
    http: httpx.AsyncClient,
) -> None:
    """Served metadata is kept in memory per sidecar and root: a repeat is the same answer, another
    API version gets its own BulkDataURIs, and a replaced instance its new attributes."""
    data, ds = with_fresh_uids("CT_small.dcm")
    await store_all(http, [data])
    path = _instance_path(ds)
    first = (await http.get(f"{path}/metadata")).json()
    assert (await http.get(f"{path}/metadata")).json() == first
    pixel_uri = first[0]["7FE00010"]["BulkDataURI"]
    assert "/v2/" in pixel_uri
    v1 = (await http.get(f"{path.replace('/v2/', '/v1/', 1)}/metadata")).json()
    assert v1[0]["7FE00010"]["BulkDataURI"] == pixel_uri.replace("/v2/", "/v1/", 1)

    ds.PatientName = "Replaced^Name"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    replaced = await post(http, multipart([buffer.getvalue()]), method="PUT")
    assert replaced.status_code == 200, replaced.text
    again = (await http.get(f"{path}/metadata")).json()
    assert again[0]["00100010"]["Value"] == [{"Alphabetic": "Replaced^Name"}]
