"""Running a search and shaping its matches into the DICOM JSON of the response.

Each result carries the attributes of the levels its path leaves open (PS3.18 6.7.1.2.2): the
stored ones come from the document's ``json``, the computed ones (RetrieveURL, availability,
counts, modalities) from the document itself or, for the parents of a series or instance, from
one more query for the page's study and series documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.cosmos.aio import ContainerProxy

from shared.attributes import COMPUTED_ATTRIBUTES, tag_hex
from shared.qido_levels import Level
from shared.qido_params import SearchQuery
from shared.qido_query import CosmosQuery, aggregates_query, page_size, search_query
from shared.storage_errors import query_deadline, unavailable_as_503
from shared.uid_index.keys import doc_id
from shared.urls import instance_url, series_url, study_url

JsonDict = dict[str, Any]

_STUDY_AGGREGATES = (
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
_SERIES_AGGREGATES = ("NumberOfSeriesRelatedInstances",)


@dataclass(frozen=True)
class SearchResult:
    datasets: list[JsonDict]
    truncated: bool
    """More matches follow the page: the response says so in a Warning header."""


async def search(
    index: ContainerProxy, query: SearchQuery, partition: str, root: str
) -> SearchResult:
    """Run ``query`` and shape its page; ``root`` is the versioned base of RetrieveURLs."""
    async with query_deadline():
        with unavailable_as_503():
            found = await _matches(index, search_query(query, partition), page_size(query))
            page = found[query.offset : query.offset + query.limit]
            parents = await _parent_aggregates(index, query, partition, page)
    datasets = [_dataset(query, doc, parents, root) for doc in page]
    return SearchResult(datasets, truncated=len(found) > query.offset + query.limit)


async def _matches(index: ContainerProxy, query: CosmosQuery, wanted: int) -> list[JsonDict]:
    """The first ``wanted`` results that pass the query's checks, reading no further than that.

    A query with checks has no TOP, so its candidates come a page at a time, as many as are wanted
    per page, until enough have passed.
    """
    found: list[JsonDict] = []
    async for item in index.query_items(
        query=query.text,
        parameters=query.parameters,
        partition_key=query.partition_key,
        max_item_count=wanted if query.checks else None,
    ):
        if query.admits(item):
            found.append(item)
            if len(found) == wanted:
                break
    return found


async def _run(index: ContainerProxy, query: CosmosQuery) -> list[JsonDict]:
    return [
        item
        async for item in index.query_items(
            query=query.text, parameters=query.parameters, partition_key=query.partition_key
        )
    ]


def _needs(wanted: frozenset[str] | None, keywords: tuple[str, ...]) -> bool:
    return wanted is None or any(k in wanted for k in keywords)


async def _parent_aggregates(
    index: ContainerProxy, query: SearchQuery, partition: str, page: list[JsonDict]
) -> dict[str, JsonDict]:
    """The page's study and series documents by id, when a result shows their aggregates."""
    levels, wanted = query.returned_levels, query.returned
    studies = query.level is not Level.STUDY and Level.STUDY in levels
    studies = studies and _needs(wanted, _STUDY_AGGREGATES)
    series = query.level is Level.INSTANCE and Level.SERIES in levels
    series = series and _needs(wanted, _SERIES_AGGREGATES)
    if not page or not (studies or series):
        return {}
    found = await _run(
        index,
        aggregates_query(
            partition,
            (doc["pk"] for doc in page),
            (doc["seriesKey"] for doc in page) if series else (),
        ),
    )
    return {doc["id"]: doc for doc in found}


def _dataset(
    query: SearchQuery,
    doc: JsonDict,
    parents: dict[str, JsonDict],
    root: str,
) -> JsonDict:
    wanted = query.returned
    stored: JsonDict = doc["json"]
    if wanted is None:
        result = dict(stored)
    else:
        tags = {tag_hex(k) for k in wanted if k not in COMPUTED_ATTRIBUTES}
        result = {tag: element for tag, element in stored.items() if tag in tags}
    for keyword, element in _computed(query, doc, parents, root).items():
        if wanted is None or keyword in wanted:
            result[tag_hex(keyword)] = element
    return dict(sorted(result.items()))


def _computed(
    query: SearchQuery, doc: JsonDict, parents: dict[str, JsonDict], root: str
) -> dict[str, JsonDict]:
    computed: dict[str, JsonDict] = {
        "RetrieveURL": {"vr": "UR", "Value": [_retrieve_url(query.level, doc, root)]},
        "InstanceAvailability": {"vr": "CS", "Value": ["ONLINE"]},
    }
    study = doc if query.level is Level.STUDY else parents.get(doc_id("study", doc["pk"]))
    if study is not None:
        # A study level return key is answered even when no instance names a modality: with
        # zero length, as PS3.4 C.4.1.1.3.2 asks of a key that has no value.
        modalities = list(study.get("modalities") or ())
        computed["ModalitiesInStudy"] = (
            {"vr": "CS", "Value": modalities} if modalities else {"vr": "CS"}
        )
        computed["NumberOfStudyRelatedSeries"] = _count(study["numberOfSeries"])
        computed["NumberOfStudyRelatedInstances"] = _count(study["numberOfInstances"])
    series = doc if query.level is Level.SERIES else None
    if query.level is Level.INSTANCE:
        series = parents.get(doc_id("series", doc["seriesKey"]))
    if series is not None:
        computed["NumberOfSeriesRelatedInstances"] = _count(series["numberOfInstances"])
    return computed


def _count(value: Any) -> JsonDict:
    return {"vr": "IS", "Value": [int(value)]}


def _retrieve_url(level: Level, doc: JsonDict, root: str) -> str:
    if level is Level.STUDY:
        return study_url(root, doc["studyUID"])
    if level is Level.SERIES:
        return series_url(root, doc["studyUID"], doc["seriesUID"])
    return instance_url(root, doc["studyUID"], doc["seriesUID"], doc["sopUID"])
