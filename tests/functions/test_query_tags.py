"""Extended query tags over HTTP: the Azure API, store, search and reindex on them.

A stack of its own: the registry is the archive's, so tags added here would change what other
tests' stores index. Its sweep runs every second, so a reindex starts as soon as tags are added.
Each test registers tags of its own and deletes them, so tests do not depend on each other.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.uid import generate_uid

from devhost.stack import LocalStack
from shared.clients import Clients
from shared.dicom.query_tags import QueryTag, TagLevel, TagStatus
from shared.services.reindex import catch_up
from shared.uid_index.keys import new_version
from tests.conftest import own_stack
from tests.data.builders import multipart, to_bytes, with_fresh_uids
from tests.functions.storage_checks import (
    blob_names,
    instance_doc,
    ref_of,
    series_doc,
    study_doc,
)
from tests.functions.test_store import failures, post

pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from own_stack(
        tmp_path_factory,
        "tags",
        DICOMWEB_SWEEP_SCHEDULE="*/1 * * * * *",
    )


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 180) -> None:
    give_up = time.monotonic() + within
    while not await check():
        assert time.monotonic() < give_up, "the sweep did not get there in time"
        await asyncio.sleep(0.3)


async def add(http: httpx.AsyncClient, *entries: dict[str, Any], version: str = "v2") -> Any:
    response = await http.post(f"/{version}/extendedquerytags", json=list(entries), headers=JSON)
    assert response.status_code == 202, response.text
    return response.json()


async def completed(http: httpx.AsyncClient, href: str) -> bool:
    response = await http.get(href)
    body = response.json()
    assert body["type"] == "reindex" and body["status"] in ("notStarted", "running", "completed")
    assert response.status_code == (200 if body["status"] == "completed" else 202)
    return bool(body["status"] == "completed")


async def test_add_list_get_patch_delete(http: httpx.AsyncClient) -> None:
    reference = await add(
        http,
        {"Path": "ProtocolName", "Level": "Series"},
        {"Path": "04011001", "VR": "SS", "PrivateCreator": "MicrosoftPC", "Level": "Instance"},
    )
    base = str(http.base_url).rstrip("/")
    assert reference["href"] == f"{base}/v2/operations/{reference['id']}"
    await eventually(lambda: completed(http, reference["href"]))
    operation = (await http.get(reference["href"])).json()
    assert operation["percentComplete"] == 100
    assert operation["resources"] == [
        f"{base}/v2/extendedquerytags/00181030",
        f"{base}/v2/extendedquerytags/04011001",
    ]

    listed = (await http.get("/v2/extendedquerytags")).json()
    by_path = {t["path"]: t for t in listed}
    assert by_path["00181030"] == {
        "path": "00181030",
        "vr": "LO",
        "level": "Series",
        "status": "Ready",
        "queryStatus": "Enabled",
        "errors": {"count": 0, "href": f"{base}/v2/extendedquerytags/00181030/errors"},
    }
    assert by_path["04011001"]["privateCreator"] == "MicrosoftPC"
    assert (await http.get("/v2/extendedquerytags?limit=1")).json() == listed[:1]
    assert (await http.get("/v2/extendedquerytags?offset=1")).json() == listed[1:]

    one = await http.get("/v1/extendedquerytags/ProtocolName")
    assert one.status_code == 200 and one.json()["path"] == "00181030"
    patched = await http.patch(
        "/v2/extendedquerytags/00181030", json={"QueryStatus": "Disabled"}, headers=JSON
    )
    assert patched.status_code == 200 and patched.json()["queryStatus"] == "Disabled"
    assert (await http.get("/v2/extendedquerytags/00181030")).json()["queryStatus"] == "Disabled"
    assert (await http.get("/v2/extendedquerytags/00181030/errors")).json() == []

    for path in ("ProtocolName", "04011001"):
        assert (await http.delete(f"/v2/extendedquerytags/{path}")).status_code == 204
        assert (await http.get(f"/v2/extendedquerytags/{path}")).status_code == 404
        assert (await http.delete(f"/v2/extendedquerytags/{path}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([{"Path": "00081115", "Level": "Series"}], "sequences"),
        ([{"Path": "PatientName", "Level": "Study"}], "already a search key"),
        ([{"Path": "00091001", "VR": "LO", "Level": "Study"}], "PrivateCreator"),
        ([{"Path": "00101010", "VR": "OB", "Level": "Study"}], "dictionary"),
        ([{"Path": "00091001", "VR": "OB", "PrivateCreator": "X", "Level": "Study"}], "supported"),
        ([{"Path": "00101010", "Level": "Patient"}], "Level"),
        ({"Path": "00101010", "Level": "Study"}, "array"),
    ],
)
async def test_each_refusal_is_a_400_naming_the_problem(
    http: httpx.AsyncClient, body: Any, words: str
) -> None:
    response = await http.post("/v2/extendedquerytags", json=body, headers=JSON)
    assert response.status_code == 400 and words in response.text
    assert all(t["path"] != "00101010" for t in (await http.get("/v2/extendedquerytags")).json())


async def test_body_and_path_errors(http: httpx.AsyncClient) -> None:
    assert (await http.post("/v2/extendedquerytags", content=b"[")).status_code == 415
    broken = await http.post("/v2/extendedquerytags", content=b"[", headers=JSON)
    assert broken.status_code == 400 and "JSON" in broken.text
    assert (await http.get("/v2/extendedquerytags/NoSuchKeyword")).status_code == 400
    assert (await http.get("/v2/extendedquerytags/00101010")).status_code == 404
    assert (await http.get("/v2/extendedquerytags?limit=0")).status_code == 400
    assert (await http.get("/v2/operations/not-an-operation")).status_code == 404
    assert (await http.put("/v2/extendedquerytags")).status_code == 405


async def test_a_tag_added_twice_is_a_conflict_and_the_cap_holds(http: httpx.AsyncClient) -> None:
    await add(http, {"Path": "00101010", "Level": "Study"})
    again = await http.post(
        "/v2/extendedquerytags", json=[{"Path": "PatientAge", "Level": "Study"}], headers=JSON
    )
    assert again.status_code == 409 and "PatientAge" in again.text
    many = [
        {"Path": f"{0x00111001 + i:08X}", "VR": "LO", "PrivateCreator": "C", "Level": "Study"}
        for i in range(128)
    ]
    too_many = await http.post("/v2/extendedquerytags", json=many, headers=JSON)
    assert too_many.status_code == 400 and "at most 128" in too_many.text
    assert (await http.delete("/v2/extendedquerytags/PatientAge")).status_code == 204


def instance(study: str | None = None, **attributes: Any) -> tuple[bytes, Dataset]:
    """A CT instance of fresh UIDs with ``attributes`` set (and the private (0041,1001) SS of
    creator ACME when ``private`` is given)."""
    _, ds = with_fresh_uids("CT_small.dcm", study_uid=study)
    private = attributes.pop("private", None)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    if private is not None:
        ds.private_block(0x0041, "ACME", create=True).add_new(0x01, "SS", private)
    return to_bytes(ds), ds


def comments(response: httpx.Response) -> list[str]:
    [item] = response.json()["00081199"]["Value"]
    return [c["00000902"]["Value"][0] for c in item.get("00741048", {}).get("Value", [])]


async def ready(http: httpx.AsyncClient, *entries: dict[str, Any]) -> None:
    reference = await add(http, *entries)
    await eventually(lambda: completed(http, reference["href"]))


async def remove(http: httpx.AsyncClient, *paths: str) -> None:
    for path in paths:
        assert (await http.delete(f"/v2/extendedquerytags/{path}")).status_code == 204


async def test_stores_index_added_tags_at_their_levels(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    await ready(
        http,
        {"Path": "PatientAge", "Level": "Study"},
        {"Path": "ProtocolName", "Level": "Series"},
        {"Path": "00411001", "VR": "SS", "PrivateCreator": "ACME", "Level": "Instance"},
        # CT_small's (0009,1001) belongs to another creator: not indexed.
        {"Path": "00091001", "VR": "LO", "PrivateCreator": "ACME", "Level": "Instance"},
    )
    tags = {t["path"]: t for t in (await http.get("/v2/extendedquerytags")).json()}
    assert {tags[p]["status"] for p in ("00101010", "00181030", "00411001")} == {"Ready"}
    data, ds = instance(PatientAge="035Y", ProtocolName="Trial 7", private=-2)
    response = await post(http, multipart([data]))
    assert response.status_code == 200, response.text

    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    doc = await instance_doc(storage, ref)
    assert doc is not None
    assert list(doc["xq"]["study"].values()) == ["035Y"]
    assert list(doc["xq"]["series"].values()) == ["Trial 7"]
    assert list(doc["xq"]["instance"].values()) == [-2]
    assert doc["xerr"] == []
    series = await series_doc(storage, ref.series)
    assert series is not None and set(series["xq"]) == {"study", "series"}
    study = await study_doc(storage, ref.study)
    assert study is not None and list(study["xq"]["study"].values()) == ["035Y"]
    await remove(http, "PatientAge", "ProtocolName", "00411001", "00091001")


async def test_a_value_that_does_not_fit_fails_v1_and_is_an_error_in_v2(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    await ready(http, {"Path": "PatientAge", "Level": "Study"})
    data, ds = instance(PatientAge="35 years")
    v1 = await post(http, multipart([data]), path="/v1/studies")
    assert v1.status_code == 409 and failures(v1) == [43264]
    assert "(0010,1010) PatientAge: not a valid AS" in v1.text and "35 years" not in v1.text
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert await instance_doc(storage, ref) is None
    assert await blob_names(storage, ref.blob_prefix) == []

    v2 = await post(http, multipart([data]))
    assert v2.status_code == 202, v2.text
    assert any("(0010,1010) PatientAge: not a valid AS" in c for c in comments(v2))
    tag = (await http.get("/v2/extendedquerytags/PatientAge")).json()
    assert tag["errors"]["count"] == 1
    [error] = (await http.get(tag["errors"]["href"])).json()
    assert (error["studyInstanceUid"], error["sopInstanceUid"]) == (
        ds.StudyInstanceUID,
        ds.SOPInstanceUID,
    )
    assert error["errorMessage"].startswith("(0010,1010) PatientAge: not a valid AS")
    assert error["createdTime"].endswith("Z")
    # Deleting the instance deletes its error with it.
    assert (await http.delete(f"/v2/studies/{ds.StudyInstanceUID}")).status_code == 204
    assert (await http.get(tag["errors"]["href"])).json() == []
    await remove(http, "PatientAge")


SEARCH_TAGS = (
    {"Path": "PatientAge", "Level": "Study"},
    {"Path": "ProtocolName", "Level": "Series"},
    {"Path": "PerformingPhysicianName", "Level": "Series"},
    {"Path": "FrameOfReferenceUID", "Level": "Series"},
    {"Path": "AcquisitionDate", "Level": "Instance"},
    {"Path": "AcquisitionTime", "Level": "Instance"},
    {"Path": "AcquisitionDateTime", "Level": "Instance"},
    {"Path": "SliceThickness", "Level": "Instance"},
    {"Path": "00411001", "VR": "SS", "PrivateCreator": "ACME", "Level": "Instance"},
)


def found(response: httpx.Response, tag: str = "00080018") -> set[str]:
    """The UIDs (SOP Instance UIDs by default) of a search's results."""
    if response.status_code == 204:
        return set()
    assert response.status_code == 200, response.text
    return {d[tag]["Value"][0] for d in response.json()}


async def test_search_on_added_tags_with_each_matching_rule(http: httpx.AsyncClient) -> None:
    await ready(http, *SEARCH_TAGS)
    study = generate_uid()
    frames = [generate_uid(), generate_uid(), generate_uid()]
    values = [
        (
            "042Y",
            "Knee protocol",
            "Doe^Jane",
            frames[0],
            "20240105",
            "0830",
            "20240105083000",
            1.25,
            -2,
        ),
        (
            "042Y",
            "Knee follow-up",
            "Roe^Richard",
            frames[1],
            "20240220",
            "1215",
            "20240220121500",
            2.5,
            7,
        ),
        (
            "042Y",
            "Head routine",
            "Dunn^Alex",
            frames[2],
            "20231231",
            "2359",
            "20231231235900",
            5.0,
            300,
        ),
    ]
    sops = []
    for age, protocol, physician, frame, day, moment, stamp, thickness, private in values:
        data, ds = instance(
            study,
            PatientAge=age,
            ProtocolName=protocol,
            PerformingPhysicianName=physician,
            FrameOfReferenceUID=frame,
            AcquisitionDate=day,
            AcquisitionTime=moment,
            AcquisitionDateTime=stamp,
            SliceThickness=thickness,
            private=private,
        )
        assert (await post(http, multipart([data]))).status_code == 200
        sops.append(ds.SOPInstanceUID)
    within = f"/v2/studies/{study}"

    async def instances(**params: str) -> set[str]:
        return found(await http.get(f"{within}/instances", params=params))

    async def series_count(**params: str) -> int:
        return len(found(await http.get(f"{within}/series", params=params), "0020000E"))

    # Single value, at the tag's level and below.
    studies = await http.get(
        "/v2/studies", params={"PatientAge": "042Y", "StudyInstanceUID": study}
    )
    assert found(studies, "0020000D") == {study}
    assert studies.json()[0]["00101010"] == {"vr": "AS", "Value": ["042Y"]}
    assert await instances(PatientAge="042Y") == set(sops)
    assert await instances(SliceThickness="2.5") == {sops[1]}
    assert await instances(**{"00411001": "-2"}) == {sops[0]}
    # Wildcards.
    assert await instances(ProtocolName="Knee*") == set(sops[:2])
    assert await instances(ProtocolName="*follow?up") == {sops[1]}
    assert await series_count(ProtocolName="Head*") == 1
    # UID list.
    assert await instances(FrameOfReferenceUID=f"{frames[0]},{frames[2]}") == {sops[0], sops[2]}
    # Ranges of dates, times and date-times; a single time stands for its span.
    assert await instances(AcquisitionDate="20240101-20240131") == {sops[0]}
    assert await instances(AcquisitionDate="-20231231") == {sops[2]}
    assert await instances(AcquisitionTime="0800-1230") == set(sops[:2])
    assert await instances(AcquisitionTime="12") == {sops[1]}
    assert await instances(AcquisitionDateTime="2024") == set(sops[:2])
    assert await instances(AcquisitionDateTime="202312-20240110") == {sops[0], sops[2]}
    # Person names: exact (folded), wildcard, fuzzy.
    assert await instances(PerformingPhysicianName="doe^jane") == {sops[0]}
    assert await instances(PerformingPhysicianName="D*") == {sops[0], sops[2]}
    assert await instances(PerformingPhysicianName="rich", fuzzymatching="true") == {sops[1]}
    # Combined with built-in keys, by tag or keyword.
    assert await instances(**{"00181030": "Knee*", "SOPInstanceUID": sops[0]}) == {sops[0]}

    refused = await http.get("/v2/studies", params={"ProtocolName": "Knee*"})
    assert refused.status_code == 400 and "series-level" in refused.text
    bad = await http.get(f"{within}/instances", params={"AcquisitionDate": "2024-01-05"})
    assert bad.status_code == 400 and "AcquisitionDate" in bad.text
    await remove(http, *(t["Path"] for t in SEARCH_TAGS))


async def test_disabled_tags_are_ignored_with_a_warning_and_errors_are_named(
    http: httpx.AsyncClient,
) -> None:
    await ready(http, {"Path": "PatientAge", "Level": "Study"})
    study = generate_uid()
    good, _ = instance(study, PatientAge="070Y")
    bad, _ = instance(PatientAge="70 years")
    assert (await post(http, multipart([good]))).status_code == 200
    assert (await post(http, multipart([bad]))).status_code == 202
    params = {"PatientAge": "070Y", "StudyInstanceUID": study}
    answer = await http.get("/v2/studies", params=params)
    assert found(answer, "0020000D") == {study}
    assert answer.headers["erroneous-dicom-attributes"] == "PatientAge"
    assert "erroneous-dicom-attributes" in answer.headers["access-control-expose-headers"]

    patched = await http.patch(
        "/v2/extendedquerytags/PatientAge", json={"QueryStatus": "Disabled"}, headers=JSON
    )
    assert patched.status_code == 200
    ignored = await http.get(
        "/v2/studies", params={"PatientAge": "001D", "StudyInstanceUID": study}
    )
    assert found(ignored, "0020000D") == {study}
    assert "PatientAge" in ignored.headers["warning"]
    assert "erroneous-dicom-attributes" not in ignored.headers
    enabled = await http.patch(
        "/v2/extendedquerytags/PatientAge", json={"QueryStatus": "Enabled"}, headers=JSON
    )
    assert enabled.json()["queryStatus"] == "Enabled"
    assert (await http.get("/v2/studies", params={"PatientAge": "001D"})).status_code == 204
    await remove(http, "PatientAge")
    gone = await http.get("/v2/studies", params={"PatientAge": "070Y"})
    assert gone.status_code == 400


async def test_values_that_fail_in_a_reindex_are_errors_and_disable_the_tag(
    http: httpx.AsyncClient,
) -> None:
    # Stored before the tag exists: nothing checks the value then.
    data, ds = instance(PatientAge="35 years")
    assert (await post(http, multipart([data]), path="/v1/studies")).status_code == 200
    await ready(http, {"Path": "PatientAge", "Level": "Study"})
    tag = (await http.get("/v2/extendedquerytags/PatientAge")).json()
    assert (tag["status"], tag["queryStatus"]) == ("Ready", "Disabled")
    assert tag["errors"]["count"] >= 1
    errors = (await http.get(tag["errors"]["href"], params={"limit": "200"})).json()
    assert ds.SOPInstanceUID in {e["sopInstanceUid"] for e in errors}
    await remove(http, "PatientAge")


async def test_a_store_catches_up_on_a_tag_added_while_it_ran(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    """The store read the registry before the tag was added, and its commit may come after the
    reindex's last look: it indexes what it stored itself."""
    before = await storage.index.registry()
    data, ds = instance(ProtocolName="Caught up")
    assert (await post(http, multipart([data]))).status_code == 200
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    # The tag, registered Ready with no reindex operation: only the catch-up can index it.
    tag = QueryTag("00181030", "LO", TagLevel.SERIES, new_version(), status=TagStatus.READY)
    assert await storage.index.save_registry(before, (*before.tags, tag), tag.generation)
    assert await instance_doc(storage, ref) is not None
    assert (await instance_doc(storage, ref) or {})["xq"]["series"] == {}

    await catch_up(storage, [ref], before, storage.index.registry())
    doc = await instance_doc(storage, ref)
    assert doc is not None and doc["xq"]["series"] == {tag.key: "Caught up"}
    series = await series_doc(storage, ref.series)
    assert series is not None and series["xq"]["series"] == {tag.key: "Caught up"}
    within = f"/v2/studies/{ds.StudyInstanceUID}/series"
    assert found(await http.get(within, params={"ProtocolName": "Caught*"}), "0020000E") == {
        ds.SeriesInstanceUID
    }
    await remove(http, "ProtocolName")


async def test_a_rebuilt_index_gets_its_tags_back(
    http: httpx.AsyncClient, stack: LocalStack
) -> None:
    """The Cosmos DB emulator keeps nothing: the index is rebuilt from blob storage, where the
    registry is mirrored, and every instance is indexed on the tags again."""
    await ready(http, {"Path": "ProtocolName", "Level": "Series"})
    data, ds = instance(ProtocolName="Rebuilt")
    assert (await post(http, multipart([data]))).status_code == 200
    stack.restart_cosmos()
    assert "index rebuilt" in stack.prepare()
    tag = (await http.get("/v2/extendedquerytags/ProtocolName")).json()
    assert (tag["status"], tag["queryStatus"]) == ("Ready", "Enabled") and "operation" not in tag
    within = f"/v2/studies/{ds.StudyInstanceUID}/series"
    answer = await http.get(within, params={"ProtocolName": "Rebuilt"})
    assert found(answer, "0020000E") == {ds.SeriesInstanceUID}
    await remove(http, "ProtocolName")


_PATHS = st.one_of(
    st.sampled_from(("PatientAge", "00101010", "04011001", "00081115", "7FE00010", "Modality")),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
)
_JUNK = st.one_of(st.none(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=70))
_ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "Path": st.one_of(_PATHS, _JUNK),
        "VR": st.one_of(st.sampled_from(("AS", "SS", "LO", "PN", "SQ", "OB", "ss")), _JUNK),
        "PrivateCreator": st.one_of(st.sampled_from(("ACME", "", "\\")), _JUNK),
        "Level": st.one_of(st.sampled_from(("Study", "series", "INSTANCE", "Patient")), _JUNK),
    },
)
_BODIES = st.one_of(st.lists(_ENTRY, max_size=4), _ENTRY, _JUNK)


@pytest.fixture(scope="module")
def sync_http(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=120) as client:
        yield client


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_tag_request_gets_a_server_error(sync_http: httpx.Client, data: st.DataObject) -> None:
    """Drawn requests of every tag operation, and searches on whatever got registered."""
    quoted = urllib.parse.quote(data.draw(_PATHS), safe="")
    version = data.draw(st.sampled_from(("v1", "v2")))
    base = f"/{version}/extendedquerytags"
    requests = [
        ("POST", base, json.dumps(data.draw(_BODIES)).encode()),
        ("POST", base, data.draw(st.binary(max_size=64))),
        ("PATCH", f"{base}/{quoted}", json.dumps(data.draw(_BODIES)).encode()),
        ("GET", f"{base}/{quoted}", None),
        ("GET", f"{base}/{quoted}/errors", None),
        ("DELETE", f"{base}/{quoted}", None),
        ("GET", f"/{version}/operations/{quoted}", None),
    ]
    method, path, body = data.draw(st.sampled_from(requests))
    params = data.draw(st.dictionaries(st.sampled_from(("limit", "offset")), _PATHS, max_size=2))
    response = sync_http.request(method, path, content=body, params=params, headers=JSON)
    assert response.status_code < 500, (method, path, response.text)
    for tag in sync_http.get(base).json():
        searched = sync_http.get(
            "/v2/instances", params={tag["path"]: data.draw(st.text(max_size=20))}
        )
        assert searched.status_code < 500, (tag, searched.text)


def test_tags_left_by_the_fuzzing_are_deleted(sync_http: httpx.Client) -> None:
    for tag in sync_http.get("/v2/extendedquerytags", params={"limit": "200"}).json():
        assert sync_http.delete(f"/v2/extendedquerytags/{tag['path']}").status_code == 204
    assert sync_http.get("/v2/extendedquerytags").json() == []
