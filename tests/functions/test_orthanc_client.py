"""Orthanc 1.10 with its DICOMweb plugin (Debian's packages) as a client of the service.

Orthanc's DICOMweb client sends STOW-RS with a 73-character boundary and a chunked body, searches
with QIDO-RS, reads metadata and retrieves with ``transfer-syntax=*``; everything it is given
must come back to it byte for byte. Orthanc listens on loopback only (``devhost.orthanc``) and
is driven through its REST API. ``make test`` installs Orthanc; without it these tests fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid

from devhost.orthanc import running_orthanc
from tests.data.builders import with_fresh_uids
from tests.functions.retrieve_checks import parts_of

pytestmark = pytest.mark.integration

SERVER = "ours"
# Two studies of real files in three transfer syntaxes: explicit and implicit VR, JPEG baseline.
STUDIES = (
    ("CT_small.dcm", "CT_small.dcm", "MR_small.dcm"),
    ("SC_rgb_jpeg_dcmtk.dcm", "MR_small_implicit.dcm"),
)


@dataclass(frozen=True)
class Sent:
    """One instance as given to Orthanc: its bytes, UIDs and Orthanc's identifiers."""

    data: bytes
    study_uid: str
    series_uid: str
    sop_uid: str
    orthanc_id: str
    orthanc_study: str


@dataclass(frozen=True)
class Pushed:
    """What the module's scenario sent: the Patient ID shared by both studies, every instance,
    and Orthanc's answer to its STOW-RS."""

    patient_id: str
    instances: list[Sent]
    stow_answer: dict[str, Any]

    @property
    def study_uids(self) -> list[str]:
        return sorted({sent.study_uid for sent in self.instances})

    def of_study(self, study_uid: str) -> list[Sent]:
        return [sent for sent in self.instances if sent.study_uid == study_uid]


@pytest.fixture(scope="module")
def orthanc_url(base_url: str) -> Iterator[str]:
    """Orthanc, with the test stack configured as its DICOMweb server ``ours``."""
    with running_orthanc(name="client", servers={SERVER: f"{base_url}/v1/"}) as url:
        yield url


@pytest.fixture(scope="module")
async def orthanc(orthanc_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=orthanc_url, timeout=120) as client:
        yield client


async def call(orthanc: httpx.AsyncClient, action: str, request: dict[str, Any]) -> Any:
    """One of Orthanc's DICOMweb client calls on ``ours``; its JSON answer."""
    response = await orthanc.post(f"/dicom-web/servers/{SERVER}/{action}", json=request)
    assert response.status_code == 200, (action, response.text)
    return response.json()


@pytest.fixture(scope="module")
async def pushed(orthanc: httpx.AsyncClient) -> Pushed:
    """Both studies uploaded into Orthanc, then stored in the service by Orthanc's STOW-RS."""
    patient_id = f"ORTHANC-{generate_uid()[-12:]}"
    instances = []
    for names in STUDIES:
        study_uid, series_uid = generate_uid(), generate_uid()
        for name in names:
            data, ds = with_fresh_uids(
                name, study_uid=study_uid, series_uid=series_uid, patient_id=patient_id
            )
            upload = await orthanc.post("/instances", content=data)
            assert upload.status_code == 200, upload.text
            answer = upload.json()
            assert answer["Status"] == "Success", answer
            instances.append(
                Sent(
                    data,
                    study_uid,
                    str(ds.SeriesInstanceUID),
                    str(ds.SOPInstanceUID),
                    answer["ID"],
                    answer["ParentStudy"],
                )
            )
            series_uid = generate_uid()  # the next file of the study starts a series of its own
    studies = sorted({sent.orthanc_study for sent in instances})
    stow_answer = await call(orthanc, "stow", {"Resources": studies})
    return Pushed(patient_id, instances, stow_answer)


# Tags with one string value, which Orthanc's search client relays as it received them. It
# renders DICOM JSON into its own form (the value a plain string), keeps only the first of several
# values and drops JSON numbers (IS), so the counts of related instances are not compared.
STUDY_TAGS = ("0020000D", "00100020", "00080020", "00200010", "00081190")
INSTANCE_TAGS = ("00080018", "0020000E", "00080016", "00081190")


def relayed_values(answer: list[dict[str, Any]], tags: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Those tags' values in each dataset of a search answer as Orthanc relays it."""
    return sorted(tuple(str(dataset[tag]["Value"]) for tag in tags) for dataset in answer)


def our_values(answer: list[dict[str, Any]], tags: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The same from the service's own DICOM JSON answer."""
    return sorted(tuple(str(dataset[tag]["Value"][0]) for tag in tags) for dataset in answer)


def by_sop_uid(datasets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {dataset["00080018"]["Value"][0]: dataset for dataset in datasets}


async def test_stow_stores_every_instance_byte_for_byte(
    pushed: Pushed, http: httpx.AsyncClient
) -> None:
    assert pushed.stow_answer["InstancesCount"] == str(len(pushed.instances))
    for sent in pushed.instances:
        response = await http.get(
            f"/v1/studies/{sent.study_uid}/series/{sent.series_uid}/instances/{sent.sop_uid}",
            headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
        )
        assert response.status_code == 200, response.text
        assert [body for _, body in await parts_of(response)] == [sent.data]


async def test_qido_studies_by_patient_id(
    pushed: Pushed, orthanc: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    query = {"PatientID": pushed.patient_id}
    relayed = await call(orthanc, "qido", {"Uri": "/studies", "Arguments": query})
    ours = await http.get("/v1/studies", params=query, headers={"Accept": "application/json"})
    assert ours.status_code == 200, ours.text
    assert [values[0] for values in our_values(ours.json(), STUDY_TAGS)] == pushed.study_uids
    assert relayed_values(relayed, STUDY_TAGS) == our_values(ours.json(), STUDY_TAGS)


async def test_qido_instances_of_a_study(
    pushed: Pushed, orthanc: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    for study_uid in pushed.study_uids:
        uri = f"/studies/{study_uid}/instances"
        relayed = await call(orthanc, "qido", {"Uri": uri})
        ours = await http.get(f"/v1{uri}", headers={"Accept": "application/json"})
        assert ours.status_code == 200, ours.text
        expected = sorted(sent.sop_uid for sent in pushed.of_study(study_uid))
        assert [values[0] for values in our_values(ours.json(), INSTANCE_TAGS)] == expected
        assert relayed_values(relayed, INSTANCE_TAGS) == our_values(ours.json(), INSTANCE_TAGS)


async def test_study_metadata_is_what_the_service_answers(
    pushed: Pushed, orthanc: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    for study_uid in pushed.study_uids:
        uri = f"/studies/{study_uid}/metadata"
        relayed = await call(orthanc, "get", {"Uri": uri})
        ours = await http.get(f"/v1{uri}", headers={"Accept": "application/dicom+json"})
        assert ours.status_code == 200, ours.text
        expected = {sent.sop_uid for sent in pushed.of_study(study_uid)}
        assert set(by_sop_uid(relayed)) == expected
        assert by_sop_uid(relayed) == by_sop_uid(ours.json())


async def test_retrieve_brings_every_instance_back_byte_for_byte(
    pushed: Pushed, orthanc: httpx.AsyncClient
) -> None:
    for orthanc_study in sorted({sent.orthanc_study for sent in pushed.instances}):
        response = await orthanc.delete(f"/studies/{orthanc_study}")
        assert response.status_code == 200, response.text
    assert (await orthanc.get("/instances")).json() == []

    resources = [{"Study": study_uid} for study_uid in pushed.study_uids]
    answer = await call(orthanc, "retrieve", {"Resources": resources})
    assert answer["ReceivedInstancesCount"] == str(len(pushed.instances))

    listed = (await orthanc.get("/instances")).json()
    assert sorted(listed) == sorted(sent.orthanc_id for sent in pushed.instances)
    for sent in pushed.instances:
        response = await orthanc.get(f"/instances/{sent.orthanc_id}/file")
        assert response.status_code == 200, response.text
        assert response.content == sent.data, sent.sop_uid
