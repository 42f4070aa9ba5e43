"""The search requests of the Azure DICOM service's cURL tutorial, on the tutorial's instances,
without a data partition and in one.

The module sorts after test_store_tutorial.py, which stores the same instances and expects to be
first; run alone, this module stores them itself. In the partition, they are stored here.
"""

from __future__ import annotations

import httpx
import pytest

from tests.data.builders import SERIES_1, SERIES_2, TUTORIAL, TUTORIAL_STUDY, tutorial_file
from tests.functions.test_store import post

pytestmark = pytest.mark.integration

DICOM_JSON = "application/dicom+json"
ALREADY_STORED = 45070


PARTITION = "/partitions/tutorial-search"


@pytest.fixture(scope="module", params=["", PARTITION], ids=["default", "partition"])
async def root(request: pytest.FixtureRequest, base_url: str) -> str:
    """The path after the version: none, or a data partition's. The three instances are stored
    there, unless another module already stored them."""
    root: str = request.param
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for name in TUTORIAL:
            response = await post(
                client, tutorial_file(name), "application/dicom", f"/v2{root}/studies"
            )
            if response.status_code == 409:
                failed = response.json()["00081198"]["Value"][0]
                assert failed["00081197"]["Value"] == [ALREADY_STORED]
            else:
                assert response.status_code == 200, response.text
    return root


async def get(http: httpx.AsyncClient, path: str) -> list[dict[str, object]]:
    response = await http.get(path, headers={"Accept": DICOM_JSON})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == DICOM_JSON
    datasets: list[dict[str, object]] = response.json()
    return datasets


def uid(dataset: dict[str, object], tag: str) -> object:
    element = dataset[tag]
    assert isinstance(element, dict)
    return element["Value"][0]


async def test_tutorial_searches(http: httpx.AsyncClient, base_url: str, root: str) -> None:
    red = TUTORIAL["red-triangle"]
    v2 = f"/v2{root}"
    # Q1: studies by StudyInstanceUID.
    [study] = await get(http, f"{v2}/studies?StudyInstanceUID={TUTORIAL_STUDY}")
    assert uid(study, "0020000D") == TUTORIAL_STUDY
    assert uid(study, "00201206") == 2 and uid(study, "00201208") == 3
    assert uid(study, "00081190") == f"{base_url}{v2}/studies/{TUTORIAL_STUDY}"
    assert study["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Anony Mous"}]}
    # Q2: series by SeriesInstanceUID. Other tests reuse the series UID in studies of their own.
    found = await get(http, f"{v2}/series?SeriesInstanceUID={SERIES_1}")
    assert all(uid(series, "0020000E") == SERIES_1 for series in found)
    [series] = [series for series in found if uid(series, "0020000D") == TUTORIAL_STUDY]
    assert uid(series, "00201209") == 2
    # Q3: series within the study.
    [series] = await get(http, f"{v2}/studies/{TUTORIAL_STUDY}/series?SeriesInstanceUID={SERIES_2}")
    assert uid(series, "0020000E") == SERIES_2 and uid(series, "00201209") == 1
    # Q4: instances by SOPInstanceUID.
    [instance] = await get(http, f"{v2}/instances?SOPInstanceUID={red.sop_uid}")
    assert uid(instance, "00080018") == red.sop_uid
    assert uid(instance, "0020000E") == SERIES_1 and uid(instance, "0020000D") == TUTORIAL_STUDY
    # Q5: instances within the study.
    path = f"{v2}/studies/{TUTORIAL_STUDY}/instances?SOPInstanceUID={red.sop_uid}"
    [instance] = await get(http, path)
    assert uid(instance, "00080018") == red.sop_uid and uid(instance, "00280010") == 979
    # Q6: instances within the series.
    path = f"{v2}/studies/{TUTORIAL_STUDY}/series/{SERIES_1}/instances?SOPInstanceUID={red.sop_uid}"
    [instance] = await get(http, path)
    assert uid(instance, "00080018") == red.sop_uid
    assert uid(instance, "00081190") == (
        f"{base_url}{v2}/studies/{TUTORIAL_STUDY}/series/{SERIES_1}/instances/{red.sop_uid}"
    )
