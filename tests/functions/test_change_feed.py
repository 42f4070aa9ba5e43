"""The change feed over HTTP, v1 and v2, as the Azure DICOM service documents it.

Every test names its own instances (fresh UIDs) and looks only at their entries: the feed is
shared by every test of the session.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid

from devhost.stack import LocalStack
from tests.data.builders import multipart, with_fresh_uids
from tests.functions.test_store import failures, post
from tests.functions.test_store_faults import send_with_fault

pytestmark = pytest.mark.integration

Entry = dict[str, Any]


def ct(study: str | None = None, series: str | None = None) -> tuple[bytes, Any]:
    return with_fresh_uids("CT_small.dcm", study_uid=study, series_uid=series)


async def latest_sequence(http: httpx.AsyncClient) -> int:
    response = await http.get("/v1/changefeed/latest", params={"includemetadata": "false"})
    return 0 if response.status_code == 204 else int(response.json()["Sequence"])


async def entries_after(
    http: httpx.AsyncClient, offset: int, *, version: int = 1, **params: str
) -> list[Entry]:
    """Every readable entry after ``offset``, a page at a time as a v1 poller reads."""
    found: list[Entry] = []
    while True:
        query = {"offset": str(offset), "limit": "100", "includemetadata": "false", **params}
        response = await http.get(f"/v{version}/changefeed", params=query)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        page = response.json()
        if not page:
            return found
        found += page
        offset = page[-1]["Sequence"]


def about(entries: list[Entry], *sop_uids: str) -> list[tuple[int, str, str]]:
    """(which instance, Action, State) of the entries about ``sop_uids``, in feed order."""
    index = {uid: i for i, uid in enumerate(sop_uids)}
    return [
        (index[e["SopInstanceUid"]], e["Action"], e["State"])
        for e in entries
        if e["SopInstanceUid"] in index
    ]


async def test_store_replace_and_delete_appear_in_order_with_states_that_follow(
    http: httpx.AsyncClient,
) -> None:
    start = await latest_sequence(http)
    study, series = generate_uid(), generate_uid()
    (first, ds1), (second, ds2) = ct(study, series), ct(study, series)
    assert (await post(http, multipart([first, second]))).status_code == 200
    # PUT replaces the first instance.
    assert (await post(http, multipart([first]), method="PUT")).status_code == 200
    uids = (ds1.SOPInstanceUID, ds2.SOPInstanceUID)
    # The parts of one request are stored at once: their entries come in the order they
    # committed, whichever part that was first.
    found = about(await entries_after(http, start), *uids)
    assert sorted(found[:2]) == [(0, "create", "replaced"), (1, "create", "current")]
    assert found[2:] == [(0, "create", "current")]
    instance = f"/v2/studies/{study}/series/{series}/instances/{ds2.SOPInstanceUID}"
    assert (await http.delete(instance)).status_code == 204
    entries = await entries_after(http, start)
    found = about(entries, *uids)
    assert sorted(found[:2]) == [(0, "create", "replaced"), (1, "create", "deleted")]
    assert found[2:] == [(0, "create", "current"), (1, "delete", "deleted")]
    mine = [e for e in entries if e["SopInstanceUid"] in uids]
    assert all((e["StudyInstanceUid"], e["SeriesInstanceUid"]) == (study, series) for e in mine)
    sequences = [e["Sequence"] for e in entries]
    assert sequences == list(range(start + 1, start + 1 + len(entries)))
    stamps = [datetime.fromisoformat(e["Timestamp"]) for e in mine]
    assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in stamps)

    # Stored again after its delete: the older entries are replaced.
    assert (await post(http, multipart([second]))).status_code == 200
    assert [e for e in about(await entries_after(http, start), *uids) if e[0] == 1] == [
        (1, "create", "replaced"),
        (1, "delete", "replaced"),
        (1, "create", "current"),
    ]


async def test_a_series_and_a_study_delete_make_one_entry_per_instance(
    http: httpx.AsyncClient,
) -> None:
    start = await latest_sequence(http)
    study, kept, gone = generate_uid(), generate_uid(), generate_uid()
    files = [ct(study, gone), ct(study, gone), ct(study, kept)]
    assert (await post(http, multipart([d for d, _ in files]))).status_code == 200
    uids = [ds.SOPInstanceUID for _, ds in files]
    assert (await http.delete(f"/v2/studies/{study}/series/{gone}")).status_code == 204
    deletes = [a for i, a, _ in about(await entries_after(http, start), *uids) if a == "delete"]
    assert len(deletes) == 2
    assert (await http.delete(f"/v1/studies/{study}")).status_code == 204
    found = about(await entries_after(http, start), *uids)
    assert sorted((i, a) for i, a, _ in found) == [
        (0, "create"),
        (0, "delete"),
        (1, "create"),
        (1, "delete"),
        (2, "create"),
        (2, "delete"),
    ]
    assert {s for _, _, s in found} == {"deleted"}


async def test_metadata_when_asked_and_the_instance_is_stored(http: httpx.AsyncClient) -> None:
    start = await latest_sequence(http)
    data, ds = ct()
    assert (await post(http, multipart([data]))).status_code == 200
    latest = (await http.get("/v2/changefeed/latest")).json()
    assert latest["SopInstanceUid"] == ds.SOPInstanceUID
    assert latest["Metadata"]["00080018"] == {"vr": "UI", "Value": [ds.SOPInstanceUID]}
    metadata = await http.get(
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/metadata"
    )
    assert latest["Metadata"] == metadata.json()[0]
    bare = (await http.get("/v2/changefeed/latest", params={"includeMetadata": "False"})).json()
    assert "Metadata" not in bare and bare["Sequence"] == latest["Sequence"]
    page = (await http.get("/v1/changefeed", params={"offset": str(start)})).json()
    assert next(e for e in page if e["SopInstanceUid"] == ds.SOPInstanceUID)["Metadata"]
    path = f"/v2/studies/{ds.StudyInstanceUID}"
    assert (await http.delete(path)).status_code == 204
    deleted = [e for e in await entries_after(http, start, includemetadata="true")]
    assert all("Metadata" not in e for e in deleted if e["SopInstanceUid"] == ds.SOPInstanceUID)


async def test_v1_pages_by_sequence(http: httpx.AsyncClient) -> None:
    start = await latest_sequence(http)
    files = [ct() for _ in range(5)]
    assert (await post(http, multipart([d for d, _ in files]))).status_code == 200
    end = await latest_sequence(http)
    assert end >= start + 5
    # limit is how far past the offset to look, at most 100; 10 by default.
    page = (await http.get("/v1/changefeed", params={"offset": str(start), "limit": "2"})).json()
    assert [e["Sequence"] for e in page] == [start + 1, start + 2]
    default = (await http.get("/v1/changefeed", params={"offset": str(end - 12)})).json()
    assert [e["Sequence"] for e in default] == list(range(max(end - 11, 1), end - 1))
    assert (await http.get("/v1/changefeed", params={"offset": str(end)})).json() == []


async def test_v2_pages_within_a_time_window(http: httpx.AsyncClient) -> None:
    start = await latest_sequence(http)
    files = [ct() for _ in range(3)]
    for data, _ in files:
        assert (await post(http, multipart([data]))).status_code == 200
    uids = [ds.SOPInstanceUID for _, ds in files]
    mine = [e for e in await entries_after(http, start) if e["SopInstanceUid"] in uids]
    stamps = [e["Timestamp"] for e in mine]
    window = {"startTime": stamps[0], "endTime": stamps[2], "includemetadata": "false"}
    inside = (await http.get("/v2/changefeed", params=window)).json()
    assert [e["SopInstanceUid"] for e in inside if e["SopInstanceUid"] in uids] == uids[:2]
    # offset counts entries of the window; endTime is exclusive, startTime inclusive.
    after = {"startTime": stamps[1], "includemetadata": "false"}
    second = (await http.get("/v2/changefeed", params={**after, "limit": "1"})).json()
    assert [e["SopInstanceUid"] for e in second] == [uids[1]]
    third = (await http.get("/v2/changefeed", params={**after, "offset": "1", "limit": "1"})).json()
    assert [e["SopInstanceUid"] for e in third] == [uids[2]]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (await http.get("/v2/changefeed", params={"startTime": later})).json() == []


@pytest.mark.parametrize(
    ("version", "params", "named"),
    [
        (1, {"limit": "101"}, "limit"),
        (1, {"limit": "0"}, "limit"),
        (1, {"offset": "-1"}, "offset"),
        (2, {"limit": "201"}, "limit"),
        (2, {"limit": "blah"}, "limit"),
        (2, {"offset": "92233720368547758070"}, "offset"),
        (2, {"includeMetadata": "0"}, "includeMetadata"),
        (2, {"includemetadata": "true-ish"}, "includeMetadata"),
        (2, {"startTime": "foo"}, "startTime"),
        (2, {"endTime": "2023-05-03T11:00:00"}, "endTime"),
        (2, {"startTime": "2023-05-03T10:58:00Z", "endTime": "2023-05-03T10:58:00Z"}, "start time"),
        (2, {"startTime": "2023-05-03T10:59:00Z", "endTime": "2023-05-03T10:58:00Z"}, "start time"),
    ],
)
async def test_bad_parameters_are_400_naming_the_parameter(
    http: httpx.AsyncClient, version: int, params: dict[str, str], named: str
) -> None:
    response = await http.get(f"/v{version}/changefeed", params=params)
    assert response.status_code == 400
    assert named in response.text


async def test_v2_takes_limits_up_to_200_and_v1_ignores_the_window(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.get("/v2/changefeed", params={"limit": "200"})).status_code == 200
    v1 = await http.get("/v1/changefeed", params={"startTime": "foo", "limit": "100"})
    assert v1.status_code == 200
    bad = await http.get("/v2/changefeed/latest", params={"includeMetadata": "asdf"})
    assert bad.status_code == 400


async def test_pollers_see_every_change_once_while_clients_store_replace_and_delete(
    http: httpx.AsyncClient,
) -> None:
    """8 clients store, replace (PUT) and delete; a v1 poller follows by sequence, a v2 poller an
    open window by offset. Each sees every change exactly once, in commit order per instance."""
    start = await latest_sequence(http)
    since = datetime.now(UTC).isoformat()
    files = [ct() for _ in range(24)]
    uids = {ds.SOPInstanceUID for _, ds in files}
    deleted = {ds.SOPInstanceUID for _, ds in files[::3]}
    done = asyncio.Event()
    by_v1: list[Entry] = []
    by_v2: list[Entry] = []

    async def poll_v1() -> None:
        offset = start
        while True:
            finished = done.is_set()
            query = {"offset": str(offset), "limit": "5", "includemetadata": "false"}
            page = (await http.get("/v1/changefeed", params=query)).json()
            if page:
                sequences = [e["Sequence"] for e in page]
                assert sequences == list(range(offset + 1, offset + 1 + len(page)))
                by_v1.extend(page)
                offset = sequences[-1]
            elif finished:
                return

    async def poll_v2() -> None:
        while True:
            finished = done.is_set()
            query = {"startTime": since, "offset": str(len(by_v2)), "limit": "7"}
            page = (await http.get("/v2/changefeed", params=query)).json()
            by_v2.extend(page)
            if not page and finished:
                return

    async def client(mine: list[tuple[bytes, Any]]) -> None:
        for data, ds in mine:
            assert (await post(http, multipart([data]))).status_code == 200
            assert (await post(http, multipart([data]), method="PUT")).status_code == 200
            if ds.SOPInstanceUID in deleted:
                path = f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                assert (await http.delete(path)).status_code == 204

    pollers = [asyncio.create_task(poll_v1()), asyncio.create_task(poll_v2())]
    await asyncio.gather(*(client(files[i::8]) for i in range(8)))
    done.set()
    await asyncio.gather(*pollers)
    mine_v1 = [e for e in by_v1 if e["SopInstanceUid"] in uids]
    mine_v2 = [e for e in by_v2 if e["SopInstanceUid"] in uids]
    assert [e["Sequence"] for e in mine_v2] == [e["Sequence"] for e in mine_v1]
    assert len({e["Sequence"] for e in mine_v1}) == len(mine_v1)
    # Each store, replace and delete once, in the order they committed; the State read now.
    now = {e["Sequence"]: e for e in await entries_after(http, start)}
    for uid in uids:
        own = [now[e["Sequence"]] for e in mine_v1 if e["SopInstanceUid"] == uid]
        if uid in deleted:
            assert [(e["Action"], e["State"]) for e in own] == [
                ("create", "deleted"),
                ("create", "deleted"),
                ("delete", "deleted"),
            ]
        else:
            assert [(e["Action"], e["State"]) for e in own] == [
                ("create", "replaced"),
                ("create", "current"),
            ]


async def test_a_host_killed_mid_store_leaves_no_entry_and_the_retry_one(
    stack: LocalStack, http: httpx.AsyncClient
) -> None:
    start = await latest_sequence(http)
    data, ds = with_fresh_uids("RG3_UNCI.dcm")
    body = multipart([data])
    killed: list[bool] = []

    def kill() -> None:
        if not killed:
            stack.kill_host()
            killed.append(True)

    assert await send_with_fault(http, body, len(body) // 2, kill) is None
    stack.start_host()
    assert about(await entries_after(http, start), ds.SOPInstanceUID) == []
    # The dead store's claim holds the instance (45071) until its lease runs out.
    for _ in range(60):
        response = await post(http, body)
        if response.status_code != 409:
            break
        assert failures(response) == [45071]
        await asyncio.sleep(1)
    assert response.status_code == 200, response.text
    assert about(await entries_after(http, start), ds.SOPInstanceUID) == [(0, "create", "current")]
