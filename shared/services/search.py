"""Running a search and shaping its matches into the DICOM JSON of the response.

Each result carries the attributes of the levels its path leaves open (PS3.18 6.7.1.2.2): the
stored ones come from the document's ``json``, the computed ones (RetrieveURL, availability,
counts, modalities) from the document itself or, for the parents of a series or instance, from
one more query for the page's study and series documents.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from shared.dicom.attributes import COMPUTED_ATTRIBUTES, tag_hex
from shared.dicom.query import SearchQuery
from shared.dicom.query_levels import Level
from shared.uid_index.index import Counts, Index, SearchHit
from shared.uid_index.keys import doc_id
from shared.web.urls import instance_url, series_url, study_url

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
    erroneous: tuple[str, ...] = ()
    """The extended query tags matched on that some stored instance's value failed to index:
    the response names them in ``erroneous-dicom-attributes``, as the Azure DICOM service does."""


async def search(index: Index, query: SearchQuery, partition: str, root: str) -> SearchResult:
    """Run ``query`` and shape its page; ``root`` is the versioned base of RetrieveURLs."""
    found = await index.search(query, partition)
    page = found[query.offset : query.offset + query.limit]
    parents = await _parent_counts(index, query, partition, page)
    returned = _returned_tags(query)
    datasets = [_dataset(query, returned, hit, parents, root) for hit in page]
    matched = {m.keyword for m in query.matches}
    tags = [t for t in query.extended if t.name in matched]
    counts = await asyncio.gather(*(index.error_count(t.key) for t in tags))
    return SearchResult(
        datasets,
        truncated=len(found) > query.offset + query.limit,
        erroneous=tuple(t.name for t, count in zip(tags, counts, strict=True) if count),
    )


def _needs(wanted: frozenset[str] | None, keywords: tuple[str, ...]) -> bool:
    return wanted is None or any(k in wanted for k in keywords)


async def _parent_counts(
    index: Index, query: SearchQuery, partition: str, page: list[SearchHit]
) -> dict[str, Counts]:
    """The page's study and series counts by document id, when a result shows them."""
    levels, wanted = query.returned_levels, query.returned
    studies = query.level is not Level.STUDY and Level.STUDY in levels
    studies = studies and _needs(wanted, _STUDY_AGGREGATES)
    series = query.level is Level.INSTANCE and Level.SERIES in levels
    series = series and _needs(wanted, _SERIES_AGGREGATES)
    if not page or not (studies or series):
        return {}
    return await index.parent_counts(
        partition,
        (hit.study_key for hit in page),
        (hit.series_key for hit in page if hit.series_key is not None) if series else (),
    )


def _returned_tags(query: SearchQuery) -> frozenset[str] | None:
    """The DICOM JSON keys of the stored attributes a result returns; None: all of them."""
    wanted = query.returned
    if wanted is None:
        return None
    return frozenset(tag_hex(k) for k in wanted if k not in COMPUTED_ATTRIBUTES)


def _dataset(
    query: SearchQuery,
    returned: frozenset[str] | None,
    hit: SearchHit,
    parents: dict[str, Counts],
    root: str,
) -> JsonDict:
    wanted = query.returned
    stored: JsonDict = hit.json
    if returned is None:
        result = dict(stored)
    else:
        result = {tag: element for tag, element in stored.items() if tag in returned}
    for keyword, element in _computed(query, hit, parents, root).items():
        if wanted is None or keyword in wanted:
            result[tag_hex(keyword)] = element
    return dict(sorted(result.items()))


def _computed(
    query: SearchQuery, hit: SearchHit, parents: dict[str, Counts], root: str
) -> dict[str, JsonDict]:
    computed: dict[str, JsonDict] = {
        "RetrieveURL": {"vr": "UR", "Value": [_retrieve_url(query.level, hit, root)]},
        "InstanceAvailability": {"vr": "CS", "Value": ["ONLINE"]},
    }
    study = (
        hit.counts if query.level is Level.STUDY else parents.get(doc_id("study", hit.study_key))
    )
    if study is not None:
        # A study level return key is answered even when no instance names a modality: with
        # zero length, as PS3.4 C.4.1.1.3.2 asks of a key that has no value.
        modalities = list(study.modalities)
        computed["ModalitiesInStudy"] = (
            {"vr": "CS", "Value": modalities} if modalities else {"vr": "CS"}
        )
        computed["NumberOfStudyRelatedSeries"] = _count(study.number_of_series)
        computed["NumberOfStudyRelatedInstances"] = _count(study.number_of_instances)
    series = hit.counts if query.level is Level.SERIES else None
    if query.level is Level.INSTANCE and hit.series_key is not None:
        series = parents.get(doc_id("series", hit.series_key))
    if series is not None:
        computed["NumberOfSeriesRelatedInstances"] = _count(series.number_of_instances)
    return computed


def _count(value: int) -> JsonDict:
    return {"vr": "IS", "Value": [value]}


def _retrieve_url(level: Level, hit: SearchHit, root: str) -> str:
    if level is Level.STUDY:
        return study_url(root, hit.study_uid)
    if level is Level.SERIES:
        return series_url(root, hit.study_uid, str(hit.series_uid))
    return instance_url(root, hit.study_uid, str(hit.series_uid), str(hit.sop_uid))
