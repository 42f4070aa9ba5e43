"""Shaping search results: levels left open by the path, computed attributes, the page cut."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.dicom.query import SearchQuery
from shared.dicom.query_levels import Level
from shared.services.search import search
from shared.uid_index.cosmos.index import counts_of, search_hit
from shared.uid_index.cosmos.search_sql import page_size
from shared.uid_index.index import Counts, SearchHit
from shared.web.search_params import parse_search

ROOT = "https://dicom.example/v2"
PARTITION = "Microsoft.Default"


def element(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)}


STUDY_JSON = {
    "00080020": element("DA", "20200101"),
    "00081030": element("LO", "CHEST"),
    "00100010": element("PN", {"Alphabetic": "Doe^John"}),
    "00100020": element("LO", "ID1"),
    "0020000D": element("UI", "1.2"),
}
SERIES_JSON = {**STUDY_JSON, "00080060": element("CS", "CT"), "0020000E": element("UI", "1.2.3")}
INSTANCE_JSON = {
    **SERIES_JSON,
    "00080016": element("UI", "1.2.840.10008.5.1.4.1.1.2"),
    "00080018": element("UI", "1.2.3.4"),
    "00280010": element("US", 512),
}
STUDY = {
    "id": "study-k",
    "pk": "k",
    "studyUID": "1.2",
    "json": STUDY_JSON,
    "numberOfSeries": 1,
    "numberOfInstances": 2,
    "modalities": ["CT"],
}
SERIES = {"id": "series-s", "numberOfInstances": 2}
INSTANCE = {
    "id": "instance-i",
    "pk": "k",
    "seriesKey": "s",
    "studyUID": "1.2",
    "seriesUID": "1.2.3",
    "sopUID": "1.2.3.4",
    "json": INSTANCE_JSON,
}


class FakeIndex:
    """Answers the search with the rows ``matches`` and the parents' counts with ``parents``."""

    def __init__(self, matches: list[dict[str, Any]], parents: list[dict[str, Any]]) -> None:
        self.matches, self.parents, self.queries = matches, parents, 0

    async def search(self, query: SearchQuery, partition: str) -> list[SearchHit]:
        self.queries += 1
        return [search_hit(row) for row in self.matches[: page_size(query)]]

    async def parent_counts(
        self, partition: str, study_keys: Iterable[str], series_keys: Iterable[str]
    ) -> dict[str, Counts]:
        self.queries += 1
        return {row["id"]: counts_of(row) for row in self.parents}


async def run(index: FakeIndex, level: Level, *params: tuple[str, str], **path: str) -> Any:
    return await search(index, parse_search(level, params, **path), PARTITION, ROOT)  # type: ignore[arg-type]


async def test_study_results_carry_their_aggregates() -> None:
    result = await run(FakeIndex([STUDY], []), Level.STUDY)
    [dataset] = result.datasets
    assert dataset["00080061"] == element("CS", "CT")
    assert dataset["00201206"] == element("IS", 1)
    assert dataset["00201208"] == element("IS", 2)
    assert dataset["00080056"] == element("CS", "ONLINE")
    assert dataset["00081190"] == element("UR", f"{ROOT}/studies/1.2")
    assert "00081030" not in dataset
    assert list(dataset) == sorted(dataset)
    assert not result.truncated


async def test_a_study_without_modalities_answers_the_key_with_zero_length() -> None:
    result = await run(FakeIndex([{**STUDY, "modalities": []}], []), Level.STUDY)
    [dataset] = result.datasets
    assert dataset["00080061"] == {"vr": "CS"}


async def test_instances_carry_parents_left_open_by_the_path() -> None:
    index = FakeIndex([INSTANCE], [STUDY, SERIES])
    [dataset] = (await run(index, Level.INSTANCE)).datasets
    assert index.queries == 2
    assert dataset["00100020"] == element("LO", "ID1")
    assert dataset["00201208"] == element("IS", 2)
    assert dataset["00201209"] == element("IS", 2)
    assert dataset["00280010"] == element("US", 512)
    assert dataset["00081190"] == element(
        "UR", f"{ROOT}/studies/1.2/series/1.2.3/instances/1.2.3.4"
    )

    index = FakeIndex([INSTANCE], [STUDY, SERIES])
    [dataset] = (await run(index, Level.INSTANCE, study_uid="1.2", series_uid="1.2.3")).datasets
    assert index.queries == 1
    assert "00100020" not in dataset and "00080060" not in dataset and "00201209" not in dataset


async def test_includefield_and_matching_keys_are_returned() -> None:
    index = FakeIndex([STUDY], [])
    params = [("includefield", "00081030"), ("PatientName", "")]
    [dataset] = (await run(index, Level.STUDY, *params)).datasets
    assert dataset["00081030"] == element("LO", "CHEST")
    everything = (await run(index, Level.STUDY, ("includefield", "all"))).datasets[0]
    assert set(STUDY_JSON) < set(everything)


async def test_the_extra_match_marks_a_cut_page() -> None:
    studies = [{**STUDY, "id": f"study-{n}", "studyUID": f"1.{n}"} for n in range(4)]
    result = await run(FakeIndex(studies, []), Level.STUDY, ("limit", "2"), ("offset", "1"))
    assert [d["0020000D"] for d in result.datasets] == [STUDY_JSON["0020000D"]] * 2
    assert [d["00081190"]["Value"][0][-3:] for d in result.datasets] == ["1.1", "1.2"]
    assert result.truncated
    result = await run(FakeIndex(studies, []), Level.STUDY, ("limit", "3"), ("offset", "1"))
    assert not result.truncated
