"""Rendered and thumbnail resources through the local host, against the emulators."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from shared.clients import Clients
from shared.services.verify import verify
from tests.data.builders import to_bytes, tutorial_dataset, with_fresh_uids
from tests.functions.retrieve_checks import parts_of, store_all
from tests.functions.storage_checks import instance_doc, ref_of
from tests.shared.services.test_verify import study_key_of

pytestmark = pytest.mark.integration


async def _stored(http: httpx.AsyncClient, name: str, study: str, series: str) -> str:
    data, ds = with_fresh_uids(name, study_uid=study, series_uid=series)
    await store_all(http, [data])
    return f"/v2/studies/{study}/series/{series}/instances/{ds.SOPInstanceUID}"


def _image(response: httpx.Response, media_type: str = "image/jpeg") -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert int(response.headers["content-length"]) == len(response.content)
    return Image.open(io.BytesIO(response.content))


async def test_rendered_instance_and_frames(http: httpx.AsyncClient) -> None:
    study, series = generate_uid(), generate_uid()
    ct = await _stored(http, "CT_small.dcm", study, series)
    jpeg = _image(await http.get(f"{ct}/rendered"))
    assert (jpeg.format, jpeg.size) == ("JPEG", (128, 128))
    png = _image(await http.get(f"{ct}/rendered", headers={"Accept": "image/png"}), "image/png")
    assert (png.format, png.mode) == ("PNG", "L")
    by_param = await http.get(f"{ct}/rendered", params={"accept": "image/png"})
    assert _image(by_param, "image/png").format == "PNG"
    narrow = await http.get(
        f"{ct}/rendered",
        params={"accept": "image/png", "window": "0,1,linear", "viewport": "64,64"},
    )
    small = np.asarray(_image(narrow, "image/png"))
    assert small.shape == (64, 64)

    mr = await _stored(http, "emri_small.dcm", study, series)
    first = await http.get(f"{mr}/frames/1/rendered", params={"accept": "image/png"})
    second = await http.get(f"{mr}/frames/2/rendered", params={"accept": "image/png"})
    instance = await http.get(f"{mr}/rendered", params={"accept": "image/png"})
    assert np.array_equal(np.asarray(_image(first, "image/png")), _png(instance))
    assert not np.array_equal(_png(first), _png(second))


def _png(response: httpx.Response) -> np.ndarray:
    return np.asarray(_image(response, "image/png"))


async def test_rendered_colour_stays_colour(http: httpx.AsyncClient) -> None:
    path = await _stored(http, "examples_ybr_color.dcm", generate_uid(), generate_uid())
    image = _image(await http.get(f"{path}/frames/3/rendered", params={"quality": "50"}))
    assert (image.mode, image.size) == ("RGB", (320, 240))


async def test_rendered_study_and_series_are_multipart(http: httpx.AsyncClient) -> None:
    study, series = generate_uid(), generate_uid()
    await _stored(http, "rtplan.dcm", study, series)
    await _stored(http, "CT_small.dcm", study, series)
    await _stored(http, "MR_small.dcm", study, generate_uid())
    response = await http.get(f"/v2/studies/{study}/rendered")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith('multipart/related; type="image/jpeg"')
    parts = await parts_of(response)
    assert [t for t, _ in parts] == ["image/jpeg", "image/jpeg"]  # the plan has no image
    assert sorted(Image.open(io.BytesIO(body)).size for _, body in parts) == [(64, 64), (128, 128)]

    png = 'multipart/related; type="image/png"'
    response = await http.get(
        f"/v2/studies/{study}/series/{series}/rendered",
        headers={"Accept": png},
        params={"viewport": "32,32"},
    )
    (part,) = await parts_of(response)
    assert part[0] == "image/png"
    assert Image.open(io.BytesIO(part[1])).size == (32, 32)
    single = await http.get(f"/v2/studies/{study}/rendered", headers={"Accept": "image/jpeg"})
    assert single.status_code == 406

    only_plan = generate_uid()
    await _stored(http, "rtplan.dcm", only_plan, generate_uid())
    assert (await http.get(f"/v2/studies/{only_plan}/rendered")).status_code == 406


async def test_rendered_errors(http: httpx.AsyncClient) -> None:
    study, series = generate_uid(), generate_uid()
    ct = await _stored(http, "CT_small.dcm", study, series)
    plan = await _stored(http, "rtplan.dcm", study, series)
    cases = [
        (f"/v2/studies/{study}/series/{series}/instances/{generate_uid()}/rendered", {}, {}, 404),
        (f"{ct}/frames/2/rendered", {}, {}, 404),
        (f"{ct}/frames/1,1/rendered", {}, {}, 400),
        (f"{ct}/rendered", {"quality": "0"}, {}, 400),
        (f"{ct}/rendered", {"viewport": "64"}, {}, 400),
        (f"{ct}/rendered", {"viewport": "64,64,200,0,10,10"}, {}, 400),
        (f"{ct}/rendered", {"window": "40,400,cubic"}, {}, 400),
        (f"{ct}/rendered", {}, {"Accept": "image/gif"}, 406),
        (f"{ct}/rendered", {"accept": "image/gif"}, {"Accept": "application/dicom"}, 406),
        (f"{plan}/rendered", {}, {}, 406),
        (f"{plan}/thumbnail", {}, {}, 406),
    ]
    for path, params, headers, status in cases:
        response = await http.get(path, params=params, headers=headers)
        assert response.status_code == status, (path, params, response.text)
        assert response.headers["content-type"].startswith("text/plain")
    response = await http.get(f"{ct}/rendered", params={"window": "40,400,cubic"})
    assert "window" in response.text
    assert (await http.post(f"{ct}/rendered")).status_code == 405


async def test_thumbnails_at_every_level_are_cached_and_go_with_the_instance(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, series = generate_uid(), generate_uid()
    plan = await _stored(http, "rtplan.dcm", study, series)
    ct = await _stored(http, "CT_small.dcm", study, series)
    sop = ct.rsplit("/", 1)[1]
    ref = ref_of(study, series, sop)
    doc = await instance_doc(storage, ref)
    assert doc is not None
    cache_blob = ref.thumbnail_blob(doc["version"])
    assert await storage.blobs.get(cache_blob) is None

    instance = await http.get(f"{ct}/thumbnail")
    assert _image(instance).size == (128, 128)
    assert "max-age" in instance.headers["cache-control"]
    cached = await storage.blobs.get(cache_blob)
    assert cached == instance.content
    # The study and series thumbnails skip the instance without pixel data.
    for path in (f"/v2/studies/{study}", f"/v2/studies/{study}/series/{series}"):
        response = await http.get(f"{path}/thumbnail")
        assert response.content == cached, path
    assert plan  # stored first, so the representative search had to pass over it
    sized = await http.get(f"{ct}/thumbnail", params={"viewport": "32,32"})
    assert _image(sized).size == (32, 32)
    frame = await http.get(f"{ct}/frames/1/thumbnail", headers={"Accept": "image/png"})
    assert _image(frame, "image/png").size == (128, 128)
    assert await storage.blobs.get(cache_blob) == cached  # other sizes are not cached

    # Browsers revalidate with the tag: nothing changed, nothing sent.
    again = await http.get(f"{ct}/thumbnail", headers={"If-None-Match": instance.headers["etag"]})
    assert again.status_code == 304 and not again.content
    report = await verify(storage, repair=False)
    assert not [f for f in report.findings if study_key_of(f.subject) == ref.study.key]

    assert (await http.delete(ct)).status_code == 204
    assert await storage.blobs.get(cache_blob) is None
    assert (await http.get(f"{ct}/thumbnail")).status_code == 404
    assert (await http.get(f"/v2/studies/{study}/thumbnail")).status_code == 406


async def test_replacing_an_instance_changes_its_rendering(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, series = generate_uid(), generate_uid()
    data, ds = with_fresh_uids("CT_small.dcm", study_uid=study, series_uid=series)
    await store_all(http, [data])
    path = f"/v2/studies/{study}/series/{series}/instances/{ds.SOPInstanceUID}"
    before = await http.get(f"{path}/thumbnail")
    rendered = await http.get(f"{path}/rendered")
    assert rendered.headers["cache-control"] == "private, no-cache"
    ref = ref_of(study, series, ds.SOPInstanceUID)
    old = (await instance_doc(storage, ref))["version"]  # type: ignore[index]
    assert await storage.blobs.get(ref.thumbnail_blob(old)) == before.content

    ds.PixelData = bytes(len(ds.PixelData))  # the same instance, now all zeros
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    response = await http.put(
        f"/v2/studies/{study}",
        content=buffer.getvalue(),
        headers={"Content-Type": "application/dicom", "Accept": "application/dicom+json"},
    )
    assert response.status_code == 200, response.text
    assert await storage.blobs.get(ref.thumbnail_blob(old)) is None
    stale = await http.get(f"{path}/rendered", headers={"If-None-Match": rendered.headers["etag"]})
    assert stale.status_code == 200
    after = await http.get(f"{path}/thumbnail")
    assert after.headers["etag"] != before.headers["etag"]
    assert after.content != before.content


async def test_a_series_thumbnail_shows_its_first_instance_by_instance_number(
    http: httpx.AsyncClient,
) -> None:
    """Viewers open a series on its lowest InstanceNumber; the series thumbnail shows that one,
    whatever order the UIDs sort in."""
    study, series = generate_uid(), generate_uid()
    colours = {}
    files = []
    for number, name in ((3, "red-triangle"), (1, "blue-circle"), (2, "green-square")):
        ds = tutorial_dataset(name, rows=64, columns=64)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = study, series, number
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        colours[number] = name
        files.append(to_bytes(ds))
    await store_all(http, files)
    thumbnail = _image(await http.get(f"/v2/studies/{study}/series/{series}/thumbnail"))
    pixels = np.asarray(thumbnail.convert("RGB"), dtype=np.float64)
    shape = pixels[pixels.sum(axis=2) > 150].mean(axis=0)
    assert shape[2] > 150 and shape[0] < 60 and shape[1] < 60, (colours[1], shape)
