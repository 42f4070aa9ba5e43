"""Search cost over HTTP: a wildcard built to make a backtracking matcher explode neither stalls
other requests nor answers wrongly."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.data.builders import fresh_tutorial_study, multipart, to_bytes
from tests.functions.test_store import post

pytestmark = pytest.mark.integration

DICOM_JSON = "application/dicom+json"
# A backtracking matcher tries every way of placing eight `a` among these 60: about 10^9 ways
# before it finds that the value does not end in `b`. Stored, this took the emulator minutes.
PATIENT_ID = "a" * 60 + "cdef"
PATHOLOGICAL = "*a" * 8 + "*b"
# Long enough for any search of one study on a loaded machine, far shorter than the minutes a
# backtracking match of PATHOLOGICAL against PATIENT_ID takes.
CLIENT_TIMEOUT = 60.0


@pytest.fixture(scope="module")
async def study(base_url: str) -> str:
    ds = fresh_tutorial_study(8)[0]
    ds.PatientID = PATIENT_ID
    async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT) as client:
        response = await post(client, multipart([to_bytes(ds)]))
    assert response.status_code == 200, response.text
    return str(ds.StudyInstanceUID)


async def studies(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    return await client.get("/v2/studies", params=params, headers={"Accept": DICOM_JSON})


def found(response: httpx.Response) -> list[str]:
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.text
    return [d["0020000D"]["Value"][0] for d in response.json()]


async def test_a_pathological_wildcard_does_not_stall_a_concurrent_search(
    base_url: str, study: str
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT) as client:
        bad = asyncio.create_task(studies(client, PatientID=PATHOLOGICAL, StudyInstanceUID=study))
        await asyncio.sleep(0.2)  # the pathological search goes first
        normal = await studies(client, StudyInstanceUID=study)
        assert found(normal) == [study]
        assert found(await bad) == []  # the value does not end in b


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        (PATHOLOGICAL, False),
        ("*a" * 8 + "*f", True),
        ("*a" * 8 + "*cd?f", True),
        ("a*cdef", True),
        ("*c*a*", False),  # both letters, wrong order
        ("*d*c*", False),
        ("a" * 60 + "cd*ef", True),
        ("*cdef?", False),  # one more character than stored
    ],
)
async def test_wildcard_answers_follow_dicom_semantics(
    http: httpx.AsyncClient, study: str, pattern: str, matches: bool
) -> None:
    response = await studies(http, PatientID=pattern, StudyInstanceUID=study)
    assert found(response) == ([study] if matches else [])
