"""Export (Azure's ``POST /export``) into an Azurite container through the local host: a study
and a single instance copied byte for byte, a missing identifier logged in ``errors.log``, the
operation's progress, refused requests, and a job a dead host left half done, finished by the
sweep of a stack whose exports do nothing inline."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid

from devhost.stack import LocalStack
from shared.clients import Clients
from shared.config import DEFAULT_PARTITION
from shared.services.export import ExportJob, job_blob
from shared.uid_index.keys import InstanceRef
from tests.conftest import EVERY_SECOND, client_and_storage, own_stack
from tests.data.builders import SERIES_1, SERIES_2, TUTORIAL, tutorial_file, with_fresh_uids
from tests.functions.retrieve_checks import store_all

pytestmark = pytest.mark.integration

Stored = dict[str, bytes]
"""File bytes by ``study/series/instance`` UIDs."""


async def _store_tutorial(http: httpx.AsyncClient) -> tuple[str, Stored]:
    study = generate_uid()
    series = {SERIES_1: generate_uid(), SERIES_2: generate_uid()}
    files: Stored = {}
    for name, spec in TUTORIAL.items():
        data, ds = with_fresh_uids(
            tutorial_file(name), study_uid=study, series_uid=series[spec.series_uid]
        )
        files[f"{study}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}"] = data
    await store_all(http, list(files.values()))
    return study, files


async def _destination(storage: Clients) -> str:
    name = f"export-{uuid.uuid4().hex[:12]}"
    await storage.blob_service.create_container(name)
    return storage.blobs.container.url.rsplit("/", 1)[0] + "/" + name


def _request(sources: list[str], destination: str) -> dict[str, Any]:
    return {
        "source": {"type": "identifiers", "settings": {"values": sources}},
        "destination": {"type": "azureblob", "settings": {"blobContainerUri": destination}},
    }


async def _exported(storage: Clients, destination: str, operation: str) -> dict[str, bytes]:
    container = storage.blob_service.get_container_client(destination.rsplit("/", 1)[1])
    found = {}
    async for name in container.list_blob_names(name_starts_with=f"{operation}/"):
        found[name] = await (await container.download_blob(name)).readall()
    return found


async def _finished(http: httpx.AsyncClient, href: str, within: float = 120) -> dict[str, Any]:
    give_up = time.monotonic() + within
    while True:
        response = await http.get(href)
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        if status["status"] != "running":
            return status
        assert time.monotonic() < give_up, "the export did not finish in time"
        await asyncio.sleep(0.5)


async def test_a_study_and_an_instance_are_copied_as_stored_and_a_missing_one_logged(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, files = await _store_tutorial(http)
    other_study, other_files = await _store_tutorial(http)
    single = sorted(other_files)[0]
    missing = f"{generate_uid()}/{generate_uid()}"
    destination = await _destination(storage)
    response = await http.post("/v2/export", json=_request([study, single, missing], destination))
    assert response.status_code == 202, response.text
    answer = response.json()
    operation = answer["id"]
    assert answer["href"].endswith(f"/v2/operations/{operation}")
    assert response.headers["location"] == answer["href"]

    status = await _finished(http, answer["href"])
    assert status["status"] == "completed"
    assert status["type"] == "export"
    assert status["results"]["exported"] == 4
    assert status["results"]["skipped"] == 1
    assert status["results"]["errorHref"] == f"{destination}/{operation}/errors.log"

    exported = await _exported(storage, destination, operation)
    log = exported.pop(f"{operation}/errors.log").decode().splitlines()
    expected = {**files, single: other_files[single]}
    assert exported == {f"{operation}/results/{uids}.dcm": data for uids, data in expected.items()}
    assert [json.loads(line)["Identifier"] for line in log] == [missing]
    assert other_study not in json.dumps(log)


async def test_a_file_gone_before_its_copy_is_one_error_line_not_a_failed_export(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, files = await _store_tutorial(http)
    gone = sorted(files)[0]
    ref = InstanceRef.of(DEFAULT_PARTITION, *gone.split("/"))
    (instance,) = await storage.index.visible(ref)
    await storage.blobs.delete([instance.file_blob])
    destination = await _destination(storage)
    response = await http.post("/v2/export", json=_request([study], destination))
    status = await _finished(http, response.json()["href"])
    assert status["status"] == "completed"
    assert (status["results"]["exported"], status["results"]["skipped"]) == (2, 1)
    exported = await _exported(storage, destination, response.json()["id"])
    (line,) = exported.pop(f"{response.json()['id']}/errors.log").decode().splitlines()
    assert json.loads(line)["Identifier"] == gone
    assert len(exported) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"source": {"type": "query"}}, "source.type"),
        (_request([], "http://127.0.0.1/a/b"), "non-empty list"),
        (_request(["1.2.3/not a uid"], "http://127.0.0.1/a/b"), "source identifier 1"),
        (_request(["1.2.3/4/5/6"], "http://127.0.0.1/a/b"), "source identifier 1"),
        (_request(["1.2.3"], "ftp://host/container"), "blobContainerUri"),
        (_request(["1.2.3"], "https://host/container?sv=x"), "blobContainerUri"),
        ([1, 2], "JSON object"),
    ],
)
async def test_malformed_requests_are_400_naming_the_problem(
    http: httpx.AsyncClient, body: Any, message: str
) -> None:
    response = await http.post("/v2/export", json=body)
    assert response.status_code == 400
    assert message in response.text


async def test_a_body_that_is_not_json_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v2/export", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    response = await http.post("/v2/export", content=b"{}", headers={"content-type": "text/plain"})
    assert response.status_code == 415


async def test_a_destination_the_service_cannot_write_to_is_refused(
    http: httpx.AsyncClient,
) -> None:
    request = _request(["1.2.3"], "http://127.0.0.1:9/otheraccount/export")
    response = await http.post("/v2/export", json=request)
    assert response.status_code == 400
    assert "emulator" in response.text


async def test_a_missing_destination_container_fails_the_operation(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    study, _ = await _store_tutorial(http)
    missing = storage.blobs.container.url.rsplit("/", 1)[0] + f"/gone-{uuid.uuid4().hex[:8]}"
    response = await http.post("/v2/export", json=_request([study], missing))
    assert response.status_code == 202
    status = await _finished(http, response.json()["href"])
    assert status["status"] == "failed"
    assert status["errors"] == ["the destination container does not exist"]


async def test_a_study_delete_s_operation_is_still_a_delete_s(http: httpx.AsyncClient) -> None:
    """Export ids and a study's delete id are both 32 hexadecimal digits: no job, a delete."""
    response = await http.get(f"/v2/operations/{uuid.uuid4().hex}")
    assert response.status_code == 200
    assert response.json()["type"] == "delete"


@pytest.fixture(scope="module")
def background_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack whose exports do nothing inline and whose sweep runs every second."""
    yield from own_stack(
        tmp_path_factory,
        "export",
        DICOMWEB_EXPORT_INLINE_SECONDS="0",
        DICOMWEB_SWEEP_SCHEDULE=EVERY_SECOND,
    )


@pytest.fixture
async def background(
    background_stack: LocalStack,
) -> AsyncIterator[tuple[httpx.AsyncClient, Clients]]:
    async with client_and_storage(background_stack) as pair:
        yield pair


async def test_a_job_a_dead_host_left_half_done_is_finished_by_the_sweep(
    background: tuple[httpx.AsyncClient, Clients], background_stack: LocalStack
) -> None:
    http, storage = background
    first, first_files = await _store_tutorial(http)
    second, second_files = await _store_tutorial(http)
    destination = await _destination(storage)
    background_stack.kill_host()
    # What a host leaves when it dies after the first source and before the second: the first
    # source's copies done and counted, the cursor at the second, the lease run out.
    operation = uuid.uuid4().hex
    container = storage.blob_service.get_container_client(destination.rsplit("/", 1)[1])
    for uids, data in first_files.items():
        await container.upload_blob(f"{operation}/results/{uids}.dcm", data)
    now = "2026-01-01T00:00:00+00:00"
    job = ExportJob(operation, [first, second], destination, now, now, cursor=1, exported=3)
    await storage.blobs.put_if(job_blob(operation), job.to_bytes(), "application/json", None)
    background_stack.start_host()

    status = await _finished(http, f"/v2/operations/{operation}")
    assert status["status"] == "completed"
    assert status["results"] == {
        "errorHref": f"{destination}/{operation}/errors.log",
        "exported": 6,
        "skipped": 0,
    }
    exported = await _exported(storage, destination, operation)
    assert exported.pop(f"{operation}/errors.log") == b""
    expected = {**first_files, **second_files}
    assert exported == {f"{operation}/results/{uids}.dcm": data for uids, data in expected.items()}


async def test_without_inline_time_the_sweep_does_the_whole_export(
    background: tuple[httpx.AsyncClient, Clients],
) -> None:
    http, storage = background
    study, _ = await _store_tutorial(http)
    destination = await _destination(storage)
    response = await http.post("/v2/export", json=_request([study], destination))
    assert response.status_code == 202
    status = await _finished(http, response.json()["href"])
    assert status["results"]["exported"] == 3
    exported = await _exported(storage, destination, response.json()["id"])
    assert len(exported) == 4
