"""DELETE at study, series and instance level, against the emulators through the local host."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydicom.uid import generate_uid

from shared.clients import Clients
from tests.data.builders import multipart, with_fresh_uids
from tests.functions.storage_checks import (
    blob_names,
    instance_doc,
    ref_of,
    series_doc,
    stored_file,
    study_doc,
)
from tests.functions.test_store import failures, post

pytestmark = pytest.mark.integration


async def store_study(http: httpx.AsyncClient, series_count: int = 2, per_series: int = 2):
    study = generate_uid()
    series = [generate_uid() for _ in range(series_count)]
    modalities = ["CT_small.dcm", "MR_small.dcm"]
    files = [
        with_fresh_uids(modalities[i % 2], study_uid=study, series_uid=s)
        for i, s in enumerate(series)
        for _ in range(per_series)
    ]
    response = await post(http, multipart([d for d, _ in files]))
    assert response.status_code == 200, response.text
    return study, series, files


async def test_delete_instance_updates_aggregates_and_spares_siblings(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, _series, files = await store_study(http)
    _, victim = files[0]
    path = (
        f"/v2/studies/{study}/series/{victim.SeriesInstanceUID}/instances/{victim.SOPInstanceUID}"
    )
    ref = ref_of(study, victim.SeriesInstanceUID, victim.SOPInstanceUID)
    version = (await instance_doc(storage, ref))["version"]  # type: ignore[index]

    response = await http.delete(path)
    assert response.status_code == 204
    assert await instance_doc(storage, ref) is None
    assert await blob_names(storage, ref.blob_prefix) == []
    assert await storage.blobs.get(ref.file_blob(version)) is None
    for data, ds in files[1:]:
        sibling = ref_of(study, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        assert await stored_file(storage, sibling) == data
    doc = await study_doc(storage, ref.study)
    assert doc is not None and doc["numberOfInstances"] == 3 and doc["numberOfSeries"] == 2
    sdoc = await series_doc(storage, ref.series)
    assert sdoc is not None and sdoc["numberOfInstances"] == 1

    assert (await http.delete(path)).status_code == 404


async def test_delete_series_then_study(http: httpx.AsyncClient, storage: Clients) -> None:
    study, series, files = await store_study(http)
    response = await http.delete(f"/v1/studies/{study}/series/{series[0]}")
    assert response.status_code == 204
    ref = ref_of(study, series[0], "1")
    assert await series_doc(storage, ref.series) is None
    doc = await study_doc(storage, ref.study)
    assert doc is not None
    assert (doc["numberOfSeries"], doc["numberOfInstances"]) == (1, 2)
    assert doc["modalities"] == ["MR"]
    assert await blob_names(storage, ref.series.blob_prefix) == []

    assert (await http.delete(f"/v1/studies/{study}")).status_code == 204
    assert await study_doc(storage, ref.study) is None
    assert await blob_names(storage, ref.study.blob_prefix) == []
    assert (await http.delete(f"/v1/studies/{study}")).status_code == 404
    # The study can be stored again from scratch.
    data, _ = files[0]
    assert (await post(http, multipart([data]))).status_code == 200
    doc = await study_doc(storage, ref.study)
    assert doc is not None and doc["numberOfInstances"] == 1


@pytest.mark.parametrize(
    "path",
    [
        "/v2/studies/1.2.abc",
        "/v2/studies/1.2.3/series/01.2",
        "/v2/studies/1.2.3/series/1.2.4/instances/" + "1" * 65,
    ],
)
async def test_malformed_uid_is_400(http: httpx.AsyncClient, path: str) -> None:
    assert (await http.delete(path)).status_code == 400


async def test_unknown_resources_are_404(http: httpx.AsyncClient) -> None:
    study, series, _ = await store_study(http, 1, 1)
    for path in (
        f"/v2/studies/{generate_uid()}",
        f"/v2/studies/{study}/series/{generate_uid()}",
        f"/v2/studies/{study}/series/{series[0]}/instances/{generate_uid()}",
    ):
        assert (await http.delete(path)).status_code == 404, path


async def test_concurrent_stores_and_deletes_in_one_study_keep_exact_counts(
    base_url: str, storage: Clients
) -> None:
    """Eight clients store into one study while deleting some of what they stored."""
    study = generate_uid()
    series = [generate_uid() for _ in range(2)]

    async def client(n: int) -> int:
        kept = 0
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
            for i in range(4):
                data, ds = with_fresh_uids(
                    "CT_small.dcm", study_uid=study, series_uid=series[i % 2]
                )
                response = await post(http, multipart([data]))
                assert response.status_code == 200, (response.status_code, failures(response))
                if (n + i) % 3 == 0:
                    path = (
                        f"/v2/studies/{study}/series/{ds.SeriesInstanceUID}"
                        f"/instances/{ds.SOPInstanceUID}"
                    )
                    assert (await http.delete(path)).status_code == 204
                else:
                    kept += 1
        return kept

    kept = sum(await asyncio.gather(*(client(n) for n in range(8))))
    ref = ref_of(study, series[0], "1")
    doc = await study_doc(storage, ref.study)
    assert doc is not None and doc["numberOfInstances"] == kept
    counts = [
        (await series_doc(storage, ref_of(study, s, "1").series) or {}).get("numberOfInstances", 0)
        for s in series
    ]
    assert sum(counts) == kept


async def test_deleted_resources_vanish_from_retrieve_metadata_and_search(
    http: httpx.AsyncClient,
) -> None:
    study, series, files = await store_study(http)
    _, victim = files[0]
    _, sibling = files[1]
    instance = f"/v2/studies/{study}/series/{series[0]}/instances/{victim.SOPInstanceUID}"
    assert (await http.get(instance + "/metadata")).status_code == 200
    assert (await http.delete(instance)).status_code == 204

    assert (await http.get(instance, headers={"Accept": "application/dicom"})).status_code == 404
    assert (await http.get(instance + "/metadata")).status_code == 404
    found = await http.get(f"/v2/instances?SOPInstanceUID={victim.SOPInstanceUID}")
    assert found.status_code == 204
    sibling_path = f"/v2/studies/{study}/series/{series[0]}/instances/{sibling.SOPInstanceUID}"
    assert (await http.get(sibling_path + "/metadata")).status_code == 200
    studies = (await http.get(f"/v2/studies?StudyInstanceUID={study}")).json()
    assert studies[0]["00201208"]["Value"] == [3]

    assert (await http.delete(f"/v2/studies/{study}")).status_code == 204
    assert (await http.get(f"/v2/studies/{study}/metadata")).status_code == 404
    assert (await http.get(f"/v2/studies?StudyInstanceUID={study}")).status_code == 204
    assert (await http.get(f"/v2/studies/{study}/series")).status_code == 204
