"""The retrieve requests of the Azure DICOM service's cURL tutorial (R1 to R7), without a data
partition and in one.

The tutorial's instances are stored re-identified (same study and series structure, fresh UIDs),
so that the store tutorial test still finds its own UIDs unused.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from tests.data.builders import SERIES_1, SERIES_2, TUTORIAL, tutorial_file, with_fresh_uids
from tests.functions.retrieve_checks import EXPLICIT, parts_of, store_all

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Tutorial:
    files: dict[str, bytes]
    """File bytes by SOP Instance UID."""
    study: str
    series: str
    instance: str
    red_sop_uid: str
    series_size: int


@pytest.fixture(
    scope="module", params=["", "/partitions/tutorial-retrieve"], ids=["default", "partition"]
)
async def tutorial(request: pytest.FixtureRequest, base_url: str) -> Tutorial:
    v2 = f"/v2{request.param}"
    study = generate_uid()
    series = {SERIES_1: generate_uid(), SERIES_2: generate_uid()}
    made = {
        name: with_fresh_uids(
            tutorial_file(name), study_uid=study, series_uid=series[spec.series_uid]
        )
        for name, spec in TUTORIAL.items()
    }
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        await store_all(http, [data for data, _ in made.values()], f"{v2}/studies")
    red = made["red-triangle"][1]
    study_path = f"{v2}/studies/{study}"
    series_path = f"{study_path}/series/{red.SeriesInstanceUID}"
    return Tutorial(
        files={str(ds.SOPInstanceUID): data for data, ds in made.values()},
        study=study_path,
        series=series_path,
        instance=f"{series_path}/instances/{red.SOPInstanceUID}",
        red_sop_uid=str(red.SOPInstanceUID),
        series_size=sum(spec.series_uid == SERIES_1 for spec in TUTORIAL.values()),
    )


def _sop(data: bytes) -> str:
    return str(dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


async def test_r1_study(http: httpx.AsyncClient, tutorial: Tutorial) -> None:
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    response = await http.get(tutorial.study, headers={"accept": accept})
    assert response.status_code == 200
    assert {_sop(body): body for _, body in await parts_of(response)} == tutorial.files


async def test_r2_study_metadata(http: httpx.AsyncClient, tutorial: Tutorial) -> None:
    response = await http.get(
        f"{tutorial.study}/metadata", headers={"accept": "application/dicom+json"}
    )
    assert response.status_code == 200
    found = sorted(item["00080018"]["Value"][0] for item in response.json())
    assert found == sorted(tutorial.files)


async def test_r3_series(http: httpx.AsyncClient, tutorial: Tutorial) -> None:
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    response = await http.get(tutorial.series, headers={"accept": accept})
    assert response.status_code == 200
    parts = await parts_of(response)
    assert len(parts) == tutorial.series_size
    assert all(tutorial.files[_sop(body)] == body for _, body in parts)


async def test_r4_series_metadata(http: httpx.AsyncClient, tutorial: Tutorial) -> None:
    response = await http.get(
        f"{tutorial.series}/metadata", headers={"accept": "application/dicom+json"}
    )
    assert response.status_code == 200
    assert len(response.json()) == tutorial.series_size


async def test_r5_instance(http: httpx.AsyncClient, tutorial: Tutorial) -> None:
    response = await http.get(
        tutorial.instance, headers={"accept": "application/dicom; transfer-syntax=*"}
    )
    assert response.status_code == 200
    assert response.content == tutorial.files[tutorial.red_sop_uid]


async def test_r6_instance_metadata(http: httpx.AsyncClient, tutorial: Tutorial) -> None:
    response = await http.get(
        f"{tutorial.instance}/metadata", headers={"accept": "application/dicom+json"}
    )
    assert response.status_code == 200
    assert response.json()[0]["00204000"]["Value"] == [TUTORIAL["red-triangle"].comment]


@pytest.mark.parametrize(
    "accept",
    [
        f'multipart/related; type="application/octet-stream"; transfer-syntax={EXPLICIT}',
        'multipart/related; type="application/octet-stream"; transfer-syntax=*',
        'multipart/related; type="application/octet-stream"',
    ],
)
async def test_r7_frame(http: httpx.AsyncClient, tutorial: Tutorial, accept: str) -> None:
    response = await http.get(f"{tutorial.instance}/frames/1", headers={"accept": accept})
    assert response.status_code == 200
    (part,) = await parts_of(response)
    red = tutorial.files[tutorial.red_sop_uid]
    expected = np.asarray(dcmread(io.BytesIO(red)).pixel_array).tobytes()
    assert part == (f"application/octet-stream; transfer-syntax={EXPLICIT}", expected)
