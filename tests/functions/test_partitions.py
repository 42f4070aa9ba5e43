"""Data partitions: every route again under ``/v{n}/partitions/{name}/``, each partition on its own.

The same Study, Series and SOP Instance UIDs are stored in two partitions with different patient
names; every route the app serves in a partition is then read in each partition, in an empty one
and without a partition. The routes come from the app's own list, so a route added later is
checked too (and a route that changes data must be listed here, with its check).
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass

import httpx
import pytest
from pydicom import dcmread

import function_app
from functions.routes import http_functions
from shared.clients import Clients
from tests.data.builders import tutorial_file, with_fresh_uids
from tests.functions.test_store import post, stored_uids

pytestmark = pytest.mark.integration

ROUTES = [
    (str(trigger.route), [str(getattr(m, "value", m)) for m in trigger.methods or ()])
    for _, trigger in http_functions(function_app.IN_PARTITIONS)
]
CHANGING = {
    ("POST", "studies"),
    ("POST", "studies/{study}"),
    ("PUT", "studies"),
    ("PUT", "studies/{study}"),
    ("DELETE", "studies/{study}"),
    ("DELETE", "studies/{study}/series/{series}"),
    ("DELETE", "studies/{study}/series/{series}/instances/{instance}"),
    ("POST", "export"),
    ("POST", "studies/$bulkUpdate"),
}
"""The routes that change data, each checked below by name."""


@dataclass(frozen=True)
class Stored:
    a: str
    b: str
    empty: str
    study: str
    series: str
    instance: str


def _in_partition(route: str) -> str:
    """A route's path after ``/v{n}/partitions/{partition}/``."""
    return route.split("/{partition}/", 1)[1]


def _named(partition: str, patient: str, data: bytes) -> bytes:
    ds = dcmread(io.BytesIO(data))
    ds.PatientName = patient
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


@pytest.fixture(scope="module")
async def stored(base_url: str) -> Stored:
    tag = uuid.uuid4().hex[:8]
    data, ds = with_fresh_uids(tutorial_file("red-triangle"))
    a, b = f"isolation-a-{tag}", f"isolation.b_{tag}"
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        for partition, patient in ((a, "Alpha^A"), (b, "Beta^B")):
            response = await post(
                http,
                _named(partition, patient, data),
                "application/dicom",
                f"/v2/partitions/{partition}/studies",
            )
            assert response.status_code == 200, response.text
            assert stored_uids(response) == [str(ds.SOPInstanceUID)]
            url = response.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
            assert f"/v2/partitions/{partition}/studies/" in url
    return Stored(
        a,
        b,
        f"isolation-empty-{tag}",
        str(ds.StudyInstanceUID),
        str(ds.SeriesInstanceUID),
        str(ds.SOPInstanceUID),
    )


def _path(route: str, version: str, partition: str | None, stored: Stored) -> str:
    values = {
        "study": stored.study,
        "series": stored.series,
        "instance": stored.instance,
        "frames": "1",
        "*path": "7FE00010",
        "operation": "not-an-operation",
    }
    rest = re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: values[m.group(1)], _in_partition(route))
    prefix = f"/{version}" if partition is None else f"/{version}/partitions/{partition}"
    return f"{prefix}/{rest}"


def test_every_route_is_served_in_a_partition() -> None:
    plain = {str(t.route) for _, t in http_functions(*function_app.OPERATIONS)}
    assert {route.replace("/partitions/{partition}", "") for route, _ in ROUTES} == plain
    changing = {(m, _in_partition(r)) for r, methods in ROUTES for m in methods if m != "GET"}
    assert changing == CHANGING


def _feed_instances(response: httpx.Response) -> set[str]:
    """The SOP Instance UIDs of a change feed answer: a list of entries, one entry, or 204."""
    assert response.status_code in (200, 204), response.text
    body = response.json() if response.status_code == 200 else []
    return {e["SopInstanceUid"] for e in (body if isinstance(body, list) else [body])}


READS = sorted({_in_partition(r) for r, methods in ROUTES if "GET" in methods})


@pytest.mark.parametrize("rest", READS)
async def test_each_read_sees_its_own_partition_only(
    http: httpx.AsyncClient, stored: Stored, rest: str
) -> None:
    route = f"{{version}}/partitions/{{partition}}/{rest}"
    # A search is narrowed to the study, so that other tests' instances do not answer it.
    searching = rest.rsplit("/", 1)[-1] in ("studies", "series", "instances")
    params = {"StudyInstanceUID": stored.study} if searching else {}
    answers = {
        name: await http.get(_path(route, "v2", partition, stored), params=params)
        for name, partition in (("a", stored.a), ("empty", stored.empty), ("default", None))
    }
    if "{operation}" in rest:
        # Operation ids name a scope's digests, never a partition's data; unknown ones are 404.
        assert {r.status_code for r in answers.values()} == {404}
        return
    if rest.startswith("changefeed"):
        # A feed is never empty-handed (200 with no entries), so its entries are compared.
        seen = {name: _feed_instances(r) for name, r in answers.items()}
        assert seen["a"] == {stored.instance}, rest
        assert seen["empty"] == set() and stored.instance not in seen["default"], rest
        return
    assert answers["a"].status_code == 200, (rest, answers["a"].text)
    assert answers["empty"].status_code in (204, 404), rest
    assert answers["default"].status_code in (204, 404), rest


async def test_metadata_and_search_are_the_partition_s_own(
    http: httpx.AsyncClient, stored: Stored
) -> None:
    for partition, name in ((stored.a, "Alpha^A"), (stored.b, "Beta^B")):
        v2 = f"/v2/partitions/{partition}"
        path = f"{v2}/studies/{stored.study}/series/{stored.series}/instances/{stored.instance}"
        [dataset] = (await http.get(f"{path}/metadata")).json()
        assert dataset["00100010"]["Value"] == [{"Alphabetic": name}]
        found = await http.get(f"{v2}/studies", params={"StudyInstanceUID": stored.study})
        [study] = found.json()
        assert study["00100010"]["Value"] == [{"Alphabetic": name}]
        assert study["00081190"]["Value"][0].endswith(f"{v2}/studies/{stored.study}")
        other = "Beta^B" if name == "Alpha^A" else "Alpha^A"
        none = await http.get(f"{v2}/studies", params={"PatientName": other})
        assert none.status_code == 204


async def test_each_partition_s_feed_has_its_own_entries_and_metadata(
    http: httpx.AsyncClient, stored: Stored
) -> None:
    for partition, name in ((stored.a, "Alpha^A"), (stored.b, "Beta^B")):
        feed = (await http.get(f"/v1/partitions/{partition}/changefeed")).json()
        assert [(e["Sequence"], e["Action"], e["State"]) for e in feed] == [
            (1, "create", "current")
        ]
        assert feed[0]["Metadata"]["00100010"]["Value"] == [{"Alphabetic": name}]


async def test_the_partitions_are_listed_in_order_of_creation(
    http: httpx.AsyncClient, stored: Stored
) -> None:
    response = await http.get("/v1/partitions")
    assert response.status_code == 200
    listed = response.json()
    names = [p["partitionName"] for p in listed]
    assert names.index(stored.a) < names.index(stored.b)
    assert stored.empty not in names
    assert [p["partitionKey"] for p in listed] == list(range(1, len(listed) + 1))
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT.*\+00:00", p["createdDate"]) for p in listed)


async def test_a_store_again_in_one_partition_leaves_the_other_alone(
    http: httpx.AsyncClient, stored: Stored
) -> None:
    data = (
        await http.get(
            f"/v2/partitions/{stored.a}/studies/{stored.study}/series/{stored.series}"
            f"/instances/{stored.instance}",
            headers={"Accept": "application/dicom"},
        )
    ).content
    again = await post(
        http,
        _named(stored.a, "Alpha^Again", data),
        "application/dicom",
        f"/v2/partitions/{stored.a}/studies/{stored.study}",
        "PUT",
    )
    assert again.status_code == 200, again.text
    instance = f"studies/{stored.study}/series/{stored.series}/instances/{stored.instance}"
    first = await post(
        http, data, "application/dicom", f"/v2/partitions/{stored.b}/studies", "POST"
    )
    assert first.status_code == 409  # already stored in b, independent of a's replace
    put = await post(http, data, "application/dicom", f"/v2/partitions/{stored.b}/studies", "PUT")
    assert put.status_code == 200
    [a] = (await http.get(f"/v2/partitions/{stored.a}/{instance}/metadata")).json()
    assert a["00100010"]["Value"] == [{"Alphabetic": "Alpha^Again"}]


@pytest.mark.parametrize(
    "level",
    [
        "studies/{study}/series/{series}/instances/{instance}",
        "studies/{study}/series/{series}",
        "studies/{study}",
    ],
)
async def test_a_delete_in_one_partition_leaves_the_other_alone(
    http: httpx.AsyncClient, base_url: str, level: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    data, ds = with_fresh_uids(tutorial_file("red-triangle"))
    partitions = (f"delete-a-{tag}", f"delete-b-{tag}")
    for partition in partitions:
        response = await post(
            http, data, "application/dicom", f"/v1/partitions/{partition}/studies"
        )
        assert response.status_code == 200
    scope = level.format(
        study=ds.StudyInstanceUID, series=ds.SeriesInstanceUID, instance=ds.SOPInstanceUID
    )
    deleted = await http.delete(f"/v1/partitions/{partitions[0]}/{scope}")
    assert deleted.status_code == 204
    instance = (
        f"studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    )
    gone = await http.get(f"/v1/partitions/{partitions[0]}/{instance}/metadata")
    kept = await http.get(f"/v1/partitions/{partitions[1]}/{instance}/metadata")
    assert (gone.status_code, kept.status_code) == (404, 200)


@pytest.mark.parametrize("name", ["a" * 65, "a%20b", "caf%C3%A9", "a%2Fb"])
async def test_names_outside_the_rule_are_a_400(http: httpx.AsyncClient, name: str) -> None:
    response = await http.get(f"/v1/partitions/{name}/studies")
    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert "1 to 64" in response.text


async def test_an_export_in_a_partition_copies_that_partition_s_files(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    tag = uuid.uuid4().hex[:8]
    data, ds = with_fresh_uids(tutorial_file("red-triangle"))
    for partition, patient in ((f"export-a-{tag}", "Alpha^A"), (f"export-b-{tag}", "Beta^B")):
        path = f"/v2/partitions/{partition}/studies"
        response = await post(http, _named(partition, patient, data), "application/dicom", path)
        assert response.status_code == 200, response.text
    name = f"export-{tag}"
    await storage.blob_service.create_container(name)
    destination = storage.blobs.container.url.rsplit("/", 1)[0] + "/" + name
    body = {
        "source": {"type": "identifiers", "settings": {"values": [str(ds.StudyInstanceUID)]}},
        "destination": {"type": "azureblob", "settings": {"blobContainerUri": destination}},
    }
    response = await http.post(f"/v2/partitions/export-b-{tag}/export", json=body)
    assert response.status_code == 202, response.text
    operation = response.json()["id"]
    status = (await http.get(response.json()["href"])).json()
    assert (status["status"], status["results"]["exported"]) == ("completed", 1)
    container = storage.blob_service.get_container_client(name)
    uids = f"{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}"
    copied = await (await container.download_blob(f"{operation}/results/{uids}.dcm")).readall()
    assert str(dcmread(io.BytesIO(copied)).PatientName) == "Beta^B"


async def test_a_bulk_update_in_a_partition_changes_that_partition_s_study_only(
    http: httpx.AsyncClient,
) -> None:
    tag = uuid.uuid4().hex[:8]
    data, ds = with_fresh_uids(tutorial_file("red-triangle"))
    partitions = (f"update-a-{tag}", f"update-b-{tag}")
    for partition in partitions:
        response = await post(
            http, data, "application/dicom", f"/v2/partitions/{partition}/studies"
        )
        assert response.status_code == 200, response.text
    body = {
        "studyInstanceUids": [str(ds.StudyInstanceUID)],
        "changeDataset": {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Beta^B"}]}},
    }
    response = await http.post(f"/v2/partitions/{partitions[1]}/studies/$bulkUpdate", json=body)
    assert response.status_code == 202, response.text
    # A study this small is updated inside the request's own time.
    status = (await http.get(response.json()["href"])).json()
    assert (status["status"], status["results"]["instanceUpdated"]) == ("completed", 1)
    instance = (
        f"studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    )
    names = [
        (await http.get(f"/v2/partitions/{p}/{instance}/metadata")).json()[0]["00100010"]
        for p in partitions
    ]
    assert names[0] == {"vr": "PN", "Value": [{"Alphabetic": str(ds.PatientName)}]}
    assert names[1] == {"vr": "PN", "Value": [{"Alphabetic": "Beta^B"}]}
