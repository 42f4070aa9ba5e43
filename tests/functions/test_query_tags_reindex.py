"""Reindexing an archive of 2,000 instances for added tags, once straight through and once with
the host killed midway, on a stack of its own whose sweep runs every second."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from devhost.stack import LocalStack
from tests.conftest import own_stack
from tests.data.builders import multipart
from tests.functions.test_query_tags import JSON, eventually, found
from tests.functions.test_store import post

pytestmark = pytest.mark.integration

ARCHIVE = 2000
PER_REQUEST = 100
PROTOCOLS = ("Alpha", "Beta", "Gamma")
STATIONS = ("NORTH", "SOUTH", "EAST", "WEST")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from own_stack(
        tmp_path_factory,
        "reindex",
        DICOMWEB_SWEEP_SCHEDULE="*/1 * * * * *",
    )


def small_instance(study: str, series: str, number: int) -> tuple[bytes, str]:
    """A small instance (no pixel data) with ProtocolName and StationName set by ``number``."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.Modality = "OT"
    ds.InstanceNumber = number
    ds.ProtocolName = PROTOCOLS[number % len(PROTOCOLS)]
    ds.StationName = STATIONS[number % len(STATIONS)]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), ds.SOPInstanceUID


@pytest.fixture(scope="module")
async def archive(stack: LocalStack) -> dict[int, str]:
    """2,000 instances in 20 studies of 100, stored before any tag is added: number -> UID."""
    uids: dict[int, str] = {}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=300) as client:
        semaphore = asyncio.Semaphore(4)

        async def one(batch: int) -> None:
            study, series = generate_uid(), generate_uid()
            numbers = range(batch * PER_REQUEST, (batch + 1) * PER_REQUEST)
            made = [small_instance(study, series, n) for n in numbers]
            async with semaphore:
                response = await post(client, multipart([data for data, _ in made]))
            assert response.status_code == 200, response.text
            uids.update(zip(numbers, (uid for _, uid in made), strict=True))

        await asyncio.gather(*(one(b) for b in range(ARCHIVE // PER_REQUEST)))
    return uids


async def status(http: httpx.AsyncClient, href: str) -> dict[str, object]:
    response = await http.get(href)
    assert response.status_code in (200, 202), response.text
    body: dict[str, object] = response.json()
    return body


async def is_completed(http: httpx.AsyncClient, href: str) -> bool:
    return (await status(http, href))["status"] == "completed"


async def add(http: httpx.AsyncClient, path: str) -> str:
    response = await http.post(
        "/v2/extendedquerytags", json=[{"Path": path, "Level": "Instance"}], headers=JSON
    )
    assert response.status_code == 202, response.text
    return str(response.json()["href"])


async def matching(http: httpx.AsyncClient, name: str, value: str) -> set[str]:
    response = await http.get("/v2/instances", params={name: value, "limit": "1000"})
    assert "warning" not in response.headers  # every match fits one page
    return found(response)


def rate(operation: dict[str, object]) -> float:
    start = datetime.fromisoformat(str(operation["createdTime"]))
    end = datetime.fromisoformat(str(operation["lastUpdatedTime"]))
    return ARCHIVE / (end - start).total_seconds()


async def test_a_reindex_of_2000_instances_completes_with_exact_results(
    http: httpx.AsyncClient, archive: dict[int, str]
) -> None:
    href = await add(http, "ProtocolName")
    await eventually(lambda: is_completed(http, href), within=600)
    operation = await status(http, href)
    assert operation["percentComplete"] == 100
    print(f"reindex: {ARCHIVE} instances at {rate(operation):.0f} instances/s")
    for index, protocol in enumerate(PROTOCOLS):
        expected = {uid for n, uid in archive.items() if n % len(PROTOCOLS) == index}
        assert await matching(http, "ProtocolName", protocol) == expected
    tag = (await http.get("/v2/extendedquerytags/ProtocolName")).json()
    assert (tag["status"], tag["queryStatus"], tag["errors"]["count"]) == ("Ready", "Enabled", 0)


async def test_a_reindex_resumes_after_the_host_is_killed_and_ends_exact(
    http: httpx.AsyncClient, archive: dict[int, str], stack: LocalStack
) -> None:
    href = await add(http, "StationName")
    give_up = time.monotonic() + 300
    while True:
        operation = await status(http, href)
        assert operation["status"] != "completed", "the reindex ended before the host was killed"
        if operation["status"] == "running" and int(str(operation["percentComplete"])) > 0:
            break
        assert time.monotonic() < give_up
        await asyncio.sleep(0.05)
    stack.kill_host()
    stack.start_host()
    # Searching on the tag waits for its reindex: until then it is refused.
    early = await http.get("/v2/instances", params={"StationName": "NORTH"})
    assert early.status_code == 400 and "being added" in early.text
    # Stores go on meanwhile, and index the tag from the moment it was added.
    data, stored = small_instance(generate_uid(), generate_uid(), 1)
    assert (await post(http, multipart([data]))).status_code == 200
    assert not await is_completed(http, href)
    await eventually(lambda: is_completed(http, href), within=600)
    for index, station in enumerate(STATIONS):
        expected = {uid for n, uid in archive.items() if n % len(STATIONS) == index}
        if station == "SOUTH":
            expected.add(stored)
        assert await matching(http, "StationName", station) == expected
