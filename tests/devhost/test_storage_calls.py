"""The local host's access log counts each request's storage calls, as the benchmark reads them
(``bench.calls``): a store writes its file and sidecar and goes through the index, a retrieve of
an instance that is not there asks the index once and reads no blob, and a frame of an instance
this host has just stored reads the frame alone: the sidecar it wrote is still in memory."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydicom.uid import generate_uid

from bench.calls import Calls, calls_in
from devhost.stack import LocalStack
from tests.data.builders import multipart, to_bytes, with_fresh_uids
from tests.functions.test_store import post

pytestmark = pytest.mark.integration


async def _access_lines(stack: LocalStack, offset: int, count: int) -> list[str]:
    """The first ``count`` access-log lines after ``offset``; the host writes a request's line
    once its answer is sent, so they may come a moment after the client is done."""
    lines: list[str] = []
    for _ in range(100):
        text = (stack.log_dir / "host.log").read_bytes()[offset:].decode("utf-8", "replace")
        lines = [line for line in text.splitlines() if "devhost.access: " in line]
        if len(lines) >= count:
            break
        await asyncio.sleep(0.05)
    return lines[:count]


async def test_a_store_and_a_missing_instance_count_their_calls(
    stack: LocalStack, http: httpx.AsyncClient
) -> None:
    _, ds = with_fresh_uids("CT_small.dcm")
    offset = (stack.log_dir / "host.log").stat().st_size
    assert (await post(http, multipart([to_bytes(ds)]))).status_code == 200
    missing = f"/v2/studies/{ds.StudyInstanceUID}/series/{generate_uid()}/instances/1.2.3"
    assert (await http.get(missing, headers={"accept": "*/*"})).status_code == 404
    instance = f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
    frame = await http.get(f"{instance}{ds.SOPInstanceUID}/frames/1", headers={"accept": "*/*"})
    assert frame.status_code == 200

    store, retrieve, frame_line = await _access_lines(stack, offset, 3)
    assert store.split("devhost.access: ")[1].startswith("POST /v2/studies 200 ")
    stored = calls_in(store)
    # At least the claim, the commit (which carries the refresh-due marker) and the refresh;
    # the file and the sidecar.
    assert stored.requests == 1 and stored.index >= 3 and stored.blob == 2
    assert calls_in(retrieve) == Calls(requests=1, index=1, blob=0)
    assert calls_in(frame_line) == Calls(requests=1, index=1, blob=1)


async def test_a_search_on_built_in_keys_asks_the_index_once(
    stack: LocalStack, http: httpx.AsyncClient
) -> None:
    """Only a search naming a key that is not built in reads the extended query tag registry;
    one that names an unknown attribute reads it to be sure, then is refused."""
    offset = (stack.log_dir / "host.log").stat().st_size
    dicom_json = {"accept": "application/dicom+json"}
    found = await http.get("/v2/studies", params={"PatientID": "X*"}, headers=dicom_json)
    assert found.status_code in (200, 204)
    refused = await http.get("/v2/studies", params={"BodyPartThickness": "1"}, headers=dicom_json)
    assert refused.status_code == 400
    search, unknown = await _access_lines(stack, offset, 2)
    assert calls_in(search) == Calls(requests=1, index=1, blob=0)
    assert calls_in(unknown) == Calls(requests=1, index=1, blob=0)
