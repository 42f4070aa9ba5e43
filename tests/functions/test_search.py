"""Search (QIDO-RS) over HTTP on a generated archive of more than 200 studies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import MRImageStorage

from tests.data.builders import multipart
from tests.data.search_archive import (
    Archive,
    SeriesSpec,
    StudySpec,
    instance_files,
    make_archive,
)
from tests.functions.test_store import post

pytestmark = pytest.mark.integration

DICOM_JSON = "application/dicom+json"
MR_IMAGE = str(MRImageStorage)
STUDIES = 200
_STUDIES_PER_REQUEST = 10
_CONCURRENT_REQUESTS = 4


@pytest.fixture(scope="module")
async def archive(base_url: str) -> Archive:
    built = make_archive(STUDIES)
    batches = [
        built.studies[i : i + _STUDIES_PER_REQUEST]
        for i in range(0, len(built.studies), _STUDIES_PER_REQUEST)
    ]
    gate = asyncio.Semaphore(_CONCURRENT_REQUESTS)

    async def store(client: httpx.AsyncClient, studies: list[StudySpec]) -> None:
        files = [f for study in studies for f in await asyncio.to_thread(instance_files, study)]
        async with gate:
            response = await post(client, multipart(files))
        assert response.status_code == 200, response.text

    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        await asyncio.gather(*(store(client, batch) for batch in batches))
    return built


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        yield http


async def search(
    client: httpx.AsyncClient, path: str, params: Iterable[tuple[str, str]] | dict[str, str] = ()
) -> httpx.Response:
    return await client.get(path, params=params, headers={"Accept": DICOM_JSON})


def value(dataset: dict[str, Any], tag: str) -> Any:
    element = dataset.get(tag)
    if element is None or "Value" not in element:
        return None
    values = element["Value"]
    return values[0] if len(values) == 1 else values


def uids(response: httpx.Response, tag: str) -> list[str]:
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.text
    return [value(d, tag) for d in response.json()]


async def study_uids(client: httpx.AsyncClient, archive: Archive, **params: str) -> set[str]:
    """The StudyInstanceUIDs a study search finds within ``archive``."""
    query = {"PatientID": archive.scope, "limit": "1000", **params}
    response = await search(client, "/v2/studies", query)
    found = uids(response, "0020000D")
    assert len(found) == len(set(found))
    return set(found)


def expected(archive: Archive, keep: Callable[[StudySpec], bool]) -> set[str]:
    return {s.uid for s in archive.studies if keep(s)}


async def test_single_value_and_uid_list(client: httpx.AsyncClient, archive: Archive) -> None:
    first, second, third = archive.studies[:3]
    assert await study_uids(client, archive, StudyInstanceUID=first.uid) == {first.uid}
    both = f"{first.uid},{third.uid}"
    assert await study_uids(client, archive, StudyInstanceUID=both) == {first.uid, third.uid}
    assert await study_uids(client, archive, AccessionNumber=second.accession) == {second.uid}
    assert await study_uids(client, archive, StudyDate=first.date) == expected(
        archive, lambda s: s.date == first.date
    )


async def test_study_default_attributes(client: httpx.AsyncClient, archive: Archive) -> None:
    study = next(s for s in archive.studies if len(s.series) == 2)
    response = await search(client, "/v1/studies", {"StudyInstanceUID": study.uid})
    assert response.status_code == 200
    assert response.headers["content-type"] == DICOM_JSON
    [dataset] = response.json()
    assert value(dataset, "00080020") == study.date
    assert value(dataset, "00080050") == study.accession
    assert value(dataset, "00080056") == "ONLINE"
    assert dataset["00080061"]["Value"] == study.modalities
    assert value(dataset, "00100020") == study.patient_id
    assert value(dataset, "00100040") == study.sex
    assert value(dataset, "00201206") == len(study.series)
    assert value(dataset, "00201208") == study.instances
    assert value(dataset, "00081190").endswith(f"/v1/studies/{study.uid}")
    assert "00081030" not in dataset  # StudyDescription is not a default attribute
    assert list(dataset) == sorted(dataset)


async def test_no_match_is_204(client: httpx.AsyncClient, archive: Archive) -> None:
    response = await search(client, "/v2/studies", {"PatientID": f"{archive.marker}-none"})
    assert response.status_code == 204
    assert response.content == b""


def names(archive: Archive, *wanted: str) -> set[str]:
    return expected(archive, lambda s: s.patient_name in wanted)


async def test_universal_matching_returns_the_attribute(
    client: httpx.AsyncClient, archive: Archive
) -> None:
    response = await search(
        client, "/v2/studies", {"PatientID": archive.scope, "StudyDescription": "", "limit": "1000"}
    )
    found = {value(d, "0020000D"): value(d, "00081030") for d in response.json()}
    assert found == {s.uid: s.description or None for s in archive.studies}


async def test_wildcards(client: httpx.AsyncClient, archive: Archive) -> None:
    assert await study_uids(client, archive, AccessionNumber=f"{archive.marker}001?") == expected(
        archive, lambda s: 10 <= int(s.accession[-4:]) <= 19
    )
    assert await study_uids(client, archive, StudyDescription="*NEE*") == expected(
        archive, lambda s: s.description == "KNEE LEFT"
    )
    assert await study_uids(client, archive, StudyDescription="?nee R*") == expected(
        archive, lambda s: s.description == "Knee Right"
    )
    assert await study_uids(client, archive, PatientID=f"{archive.marker}-00*") == expected(
        archive, lambda s: s.patient_id[-3:-1] == "00"
    )


async def test_date_ranges(client: httpx.AsyncClient, archive: Archive) -> None:
    low, high = "20050101", "20091231"
    assert await study_uids(client, archive, StudyDate=f"{low}-{high}") == expected(
        archive, lambda s: low <= s.date <= high
    )
    assert await study_uids(client, archive, StudyDate=f"{high}-") == expected(
        archive, lambda s: s.date >= high
    )
    assert await study_uids(client, archive, StudyDate=f"-{low}") == expected(
        archive, lambda s: s.date <= low
    )
    assert await study_uids(client, archive, PatientBirthDate="19500101-19551231") == expected(
        archive, lambda s: "19500101" <= s.birth_date <= "19551231"
    )


async def test_time_ranges(client: httpx.AsyncClient, archive: Archive) -> None:
    assert await study_uids(client, archive, StudyTime="0930-1200") == expected(
        archive, lambda s: "0930" <= s.time[:4] <= "1200"
    )
    assert await study_uids(client, archive, StudyTime="07") == expected(
        archive, lambda s: s.time.startswith("07")
    )
    assert await study_uids(client, archive, StudyTime="-010000") == expected(
        archive, lambda s: float(s.time) <= 10000
    )


async def test_person_names_ignore_case_and_accents(
    client: httpx.AsyncClient, archive: Archive
) -> None:
    assert await study_uids(client, archive, PatientName="MULLER^jurgen") == names(
        archive, "Müller^Jürgen"
    )
    assert await study_uids(client, archive, PatientName="Odegard^Ase") == names(
        archive, "Ødegård^Åse"
    )
    assert await study_uids(client, archive, PatientName="doe*") == names(
        archive, "Doe^John", "DOE^JANE"
    )
    assert await study_uids(client, archive, PatientName="*^j?se*") == names(
        archive, "García^José María"
    )
    assert await study_uids(client, archive, ReferringPhysicianName="HOUSE^GREGORY") == expected(
        archive, lambda s: s.referring == "House^Gregory"
    )


async def test_person_names_in_multi_byte_character_sets(
    client: httpx.AsyncClient, archive: Archive
) -> None:
    yamada = {s.uid for s in archive.studies if "山田^太郎" in s.patient_name}
    assert len(yamada) > 2  # generated in UTF-8, and the ISO 2022 IR 87 samples
    assert await study_uids(client, archive, PatientName="山田^太郎") == yamada
    assert await study_uids(client, archive, PatientName="やまだ^たろう") == yamada
    assert await study_uids(client, archive, PatientName="yamada^tarou=山田^太郎") == yamada
    # Half-width katakana (chrH32) and full-width compare equal.
    assert await study_uids(client, archive, PatientName="ヤマダ^タロウ") == names(
        archive, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"
    )
    assert await study_uids(client, archive, PatientName="王^小东") == names(
        archive, "Wang^XiaoDong=王^小东"
    )
    assert await study_uids(client, archive, PatientName="洪^吉洞") == names(
        archive, "Hong^Gildong=洪^吉洞=홍^길동"
    )
    assert await study_uids(client, archive, PatientName="äneas^rudiger") == names(
        archive, "Äneas^Rüdiger"
    )


async def test_fuzzy_matching_is_word_prefix(client: httpx.AsyncClient, archive: Archive) -> None:
    assert await study_uids(client, archive, PatientName="joh do", fuzzymatching="true") == names(
        archive, "Doe^John"
    )
    assert await study_uids(client, archive, PatientName="mar", fuzzymatching="true") == names(
        archive, "García^José María", "Smith^Anne^Marie"
    )
    assert await study_uids(client, archive, PatientName="王", fuzzymatching="true") == {
        s.uid for s in archive.studies if "=王^" in s.patient_name
    }
    assert await study_uids(client, archive, PatientName="joh do", fuzzymatching="false") == set()


async def test_other_study_keys(client: httpx.AsyncClient, archive: Archive) -> None:
    assert await study_uids(client, archive, StudyID="7") == expected(
        archive, lambda s: s.study_id == "7"
    )
    assert await study_uids(client, archive, ModalitiesInStudy="US") == expected(
        archive, lambda s: "US" in s.modalities
    )
    assert await study_uids(client, archive, ModalitiesInStudy="C?") == expected(
        archive, lambda s: "CT" in s.modalities or "CR" in s.modalities
    )
    study = archive.studies[5]
    assert await study_uids(client, archive, **{"00080050": study.accession}) == {study.uid}


async def test_values_are_percent_decoded(client: httpx.AsyncClient, archive: Archive) -> None:
    name = "M%C3%BCller%5EJ%C3%BCrgen"
    url = f"/v2/studies?PatientID={archive.marker}%2A&PatientName={name}&limit=1000"
    response = await client.get(url, headers={"Accept": DICOM_JSON})
    assert set(uids(response, "0020000D")) == names(archive, "Müller^Jürgen")


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/v2/studies", {"Modality": "CT"}, "Modality"),
        ("/v2/studies", {"00080060": "CT"}, "Modality"),
        ("/v2/series", {"ModalitiesInStudy": "CT"}, "ModalitiesInStudy"),
        ("/v2/instances", {"PatientSex": "F"}, "PatientSex"),
        ("/v1/studies", {"StudyDate": "-"}, "StudyDate"),
        ("/v1/studies", {"StudyDate": "Doe^John"}, "StudyDate"),
        ("/v1/studies", {"limit": "100000"}, "limit"),
        ("/v1/studies", {"includefield": "Nonsense"}, "includefield"),
        ("/v1/studies/1.2.x/series", {}, "study"),
    ],
)
async def test_bad_requests_name_the_attribute(
    client: httpx.AsyncClient, path: str, params: dict[str, str], named: str
) -> None:
    response = await search(client, path, params)
    assert response.status_code == 400
    assert named in response.text
    for given in params.values():
        assert given not in response.text


async def test_accept_must_allow_dicom_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/studies", headers={"Accept": "application/dicom"})
    assert response.status_code == 406
    response = await client.get("/v2/studies?limit=1", headers={"Accept": "application/json"})
    assert response.status_code in (200, 204)


def all_series(archive: Archive) -> list[tuple[StudySpec, SeriesSpec]]:
    return [(study, series) for study in archive.studies for series in study.series]


async def series_uids(client: httpx.AsyncClient, archive: Archive, **params: str) -> set[str]:
    query = {"PatientID": archive.scope, "limit": "1000", **params}
    found = uids(await search(client, "/v2/series", query), "0020000E")
    assert len(found) == len(set(found))
    return set(found)


async def test_series_matching(client: httpx.AsyncClient, archive: Archive) -> None:
    pairs = all_series(archive)
    assert await series_uids(client, archive, Modality="CT") == {
        se.uid for _, se in pairs if se.modality == "CT"
    }
    assert await series_uids(client, archive, SeriesNumber="2") == {
        se.uid for _, se in pairs if se.number == 2
    }
    assert await series_uids(client, archive, ManufacturerModelName="MAG*") == {
        se.uid for _, se in pairs if se.model.startswith("MAG")
    }
    assert await series_uids(
        client, archive, PerformedProcedureStepStartDate="20100101-20121231"
    ) == {se.uid for _, se in pairs if "20100101" <= se.pps_date <= "20121231"}
    assert await series_uids(client, archive, PerformedProcedureStepStartTime="-0500") == {
        se.uid for _, se in pairs if se.pps_time <= "050059"
    }
    # Study keys match at the series level too.
    assert await series_uids(client, archive, PatientName="doe^john", Modality="MR") == {
        se.uid for st, se in pairs if st.patient_name == "Doe^John" and se.modality == "MR"
    }


async def test_series_carry_their_study_unless_it_is_in_the_path(
    client: httpx.AsyncClient, archive: Archive
) -> None:
    study = next(s for s in archive.studies if len(s.series) == 2)
    series = study.series[1]
    response = await search(client, "/v2/series", {"SeriesInstanceUID": series.uid})
    [dataset] = response.json()
    assert value(dataset, "00100020") == study.patient_id
    assert value(dataset, "00080020") == study.date
    assert dataset["00080061"]["Value"] == study.modalities
    assert value(dataset, "00201206") == len(study.series)
    assert value(dataset, "00201208") == study.instances
    assert value(dataset, "00080060") == series.modality
    assert value(dataset, "0008103E") == series.description
    assert value(dataset, "00201209") == len(series.instances)
    assert value(dataset, "00081190").endswith(f"/v2/studies/{study.uid}/series/{series.uid}")

    response = await search(client, f"/v2/studies/{study.uid}/series")
    found = {value(d, "0020000E"): d for d in response.json()}
    assert set(found) == {s.uid for s in study.series}
    nested = found[series.uid]
    assert "00100020" not in nested and "00201206" not in nested
    assert value(nested, "00201209") == len(series.instances)
    response = await search(
        client, f"/v1/studies/{study.uid}/series", {"SeriesInstanceUID": series.uid}
    )
    assert uids(response, "0020000E") == [series.uid]


async def test_instance_matching(client: httpx.AsyncClient, archive: Archive) -> None:
    instances = [(st, se, i) for st, se in all_series(archive) for i in se.instances]
    query = {"PatientID": archive.scope, "limit": "1000", "SOPClassUID": MR_IMAGE}
    found = uids(await search(client, "/v2/instances", query), "00080018")
    assert sorted(found) == sorted(
        i.sop_uid for _, _, i in instances if i.sop_class_uid == MR_IMAGE
    )
    query = {"PatientID": archive.scope, "limit": "1000", "InstanceNumber": "2"}
    found = uids(await search(client, "/v2/instances", query), "00080018")
    assert sorted(found) == sorted(i.sop_uid for _, _, i in instances if i.number == 2)
    picked = [i.sop_uid for _, _, i in instances[:3]]
    response = await search(client, "/v2/instances", {"SOPInstanceUID": ",".join(picked)})
    assert sorted(uids(response, "00080018")) == sorted(picked)


async def test_instances_carry_the_levels_left_open(
    client: httpx.AsyncClient, archive: Archive
) -> None:
    study = next(s for s in archive.studies if len(s.series) == 2)
    series = next(se for se in study.series if len(se.instances) == 2)
    instance = series.instances[1]
    response = await search(client, "/v1/instances", {"SOPInstanceUID": instance.sop_uid})
    [dataset] = response.json()
    assert value(dataset, "00100020") == study.patient_id
    assert value(dataset, "00201208") == study.instances
    assert value(dataset, "00080060") == series.modality
    assert value(dataset, "00201209") == len(series.instances)
    assert value(dataset, "00080016") == instance.sop_class_uid
    assert value(dataset, "00200013") == instance.number
    assert value(dataset, "00080056") == "ONLINE"
    assert isinstance(value(dataset, "00280010"), int)  # Rows
    assert value(dataset, "00081190").endswith(
        f"/v1/studies/{study.uid}/series/{series.uid}/instances/{instance.sop_uid}"
    )

    response = await search(client, f"/v1/studies/{study.uid}/instances")
    datasets = response.json()
    assert sorted(value(d, "00080018") for d in datasets) == sorted(
        i.sop_uid for se in study.series for i in se.instances
    )
    assert all("00100020" not in d and "00201209" in d for d in datasets)

    response = await search(
        client, f"/v1/studies/{study.uid}/series/{series.uid}/instances", {"InstanceNumber": "2"}
    )
    [dataset] = response.json()
    assert value(dataset, "00080018") == instance.sop_uid
    assert "00080060" not in dataset and "00201209" not in dataset


async def test_includefield_forms(client: httpx.AsyncClient, archive: Archive) -> None:
    study = next(s for s in archive.studies if s.description)
    base = [("StudyInstanceUID", study.uid)]
    response = await search(client, "/v2/studies", [*base, ("includefield", "00081030,PatientAge")])
    [dataset] = response.json()
    assert value(dataset, "00081030") == study.description
    response = await search(
        client, "/v2/studies", [*base, ("includefield", "StudyDescription"), ("includefield", "x")]
    )
    assert response.status_code == 400
    response = await search(
        client,
        "/v2/studies",
        [*base, ("includefield", "StudyDescription"), ("includefield", "0020000D")],
    )
    assert value(response.json()[0], "00081030") == study.description
    response = await search(client, "/v2/instances", [*base, ("includefield", "all")])
    for dataset in response.json():
        assert value(dataset, "00081030") == study.description
        assert value(dataset, "00181030") is None  # not held by the index
        assert value(dataset, "0008103E") is not None
        assert value(dataset, "00201208") == study.instances


async def test_paging_is_stable_and_complete(client: httpx.AsyncClient, archive: Archive) -> None:
    seen: list[str] = []
    for offset in range(0, len(archive.studies), 50):
        query = {"PatientID": archive.scope, "limit": "50", "offset": str(offset)}
        response = await search(client, "/v2/studies", query)
        page = uids(response, "0020000D")
        last = offset + 50 >= len(archive.studies)
        assert ("warning" in response.headers) is not last
        assert page == uids(await search(client, "/v2/studies", query), "0020000D")
        seen += page
    assert sorted(seen) == sorted(s.uid for s in archive.studies)
    query = {"PatientID": archive.scope, "offset": str(len(archive.studies))}
    assert (await search(client, "/v2/studies", query)).status_code == 204


async def test_checked_wildcards_page_over_the_matches_only(
    client: httpx.AsyncClient, archive: Archive
) -> None:
    # Every description holding E and T is a candidate of the index; only the service knows the
    # order, so pages are cut from the checked matches, never from the candidates.
    wanted = expected(archive, lambda s: s.description in ("CHEST CT", "KNEE LEFT"))
    seen: list[str] = []
    for offset in range(0, len(wanted), 10):
        query = {"StudyDescription": "*E*T*", "limit": "10", "offset": str(offset)}
        response = await search(client, "/v2/studies", {"PatientID": archive.scope, **query})
        assert ("warning" in response.headers) is not (offset + 10 >= len(wanted))
        seen += uids(response, "0020000D")
    assert sorted(seen) == sorted(wanted)
    assert await study_uids(client, archive, StudyDescription="*T*E*") == set()


async def test_default_limit_is_100_with_a_warning(
    client: httpx.AsyncClient, archive: Archive
) -> None:
    response = await search(client, "/v2/studies", {"PatientID": archive.scope})
    assert len(response.json()) == 100
    assert response.headers["warning"].startswith("299 ")


async def test_ohif_study_list(client: httpx.AsyncClient, archive: Archive) -> None:
    response = await client.get(
        "/v2/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030,00080060",
        headers={"Accept": DICOM_JSON},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == DICOM_JSON
    datasets = response.json()
    assert len(datasets) == 101  # the whole index holds more than 200 studies
    ours = {s.uid: s for s in archive.studies}
    for dataset in datasets:
        assert "00080061" in dataset and "00201208" in dataset
        study = ours.get(value(dataset, "0020000D"))
        if study is not None:
            assert value(dataset, "00081030") == (study.description or None)
            assert dataset["00080061"]["Value"] == study.modalities


async def test_ohif_prior_studies_by_patient_id_tag(
    client: httpx.AsyncClient, archive: Archive
) -> None:
    """OHIF's search for the patient's other studies: PatientID by tag, its list parameters."""
    study = archive.studies[0]
    response = await client.get(
        f"/v2/studies?00100020={study.patient_id}&limit=101&offset=0&fuzzymatching=false"
        "&includefield=00081030,00080060,00080090,00100030",
        headers={"Accept": DICOM_JSON},
    )
    assert response.status_code == 200
    datasets = response.json()
    assert {value(d, "0020000D") for d in datasets} == {
        s.uid for s in archive.studies if s.patient_id == study.patient_id
    }
    assert all(value(d, "00100020") == study.patient_id for d in datasets)


async def test_ohif_series_of_a_study(client: httpx.AsyncClient, archive: Archive) -> None:
    """OHIF's series search: comma-separated tags for date, time, description and number."""
    study = next(s for s in archive.studies if len(s.series) == 2)
    response = await client.get(
        f"/v2/studies/{study.uid}/series?includefield=00080021,00080031,0008103E,00200011",
        headers={"Accept": DICOM_JSON},
    )
    assert response.status_code == 200
    found = {value(d, "0020000E"): d for d in response.json()}
    assert set(found) == {s.uid for s in study.series}
    for series in study.series:
        assert value(found[series.uid], "0008103E") == series.description
        assert value(found[series.uid], "00200011") == series.number


async def test_dicomweb_client_searches(base_url: str, archive: Archive) -> None:
    client = DICOMwebClient(url=f"{base_url}/v2")
    study = next(s for s in archive.studies if len(s.series) == 2)
    studies = await asyncio.to_thread(
        client.search_for_studies, search_filters={"PatientID": study.patient_id}
    )
    assert [value(d, "0020000D") for d in studies] == [study.uid]
    series = await asyncio.to_thread(client.search_for_series, study.uid)
    assert {value(d, "0020000E") for d in series} == {s.uid for s in study.series}
    target = study.series[0]
    instances = await asyncio.to_thread(client.search_for_instances, study.uid, target.uid)
    assert {value(d, "00080018") for d in instances} == {i.sop_uid for i in target.instances}
    found = await asyncio.to_thread(
        client.search_for_studies,
        search_filters={"PatientID": archive.scope},
        fuzzymatching=False,
        limit=7,
        offset=3,
        fields=["StudyDescription"],
    )
    assert len(found) == 7
