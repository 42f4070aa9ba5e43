"""The Cosmos DB SQL of a search: one parameterised query over one level's documents.

Every filter is on an indexed path (``q``, the partition key, the UID fields), so a selective
search reads only its matches; a search naming a study runs in that study's partition alone.
Results are ordered by document id, which is unique and never changes, so pages neither skip nor
repeat while the index is unchanged; the composite indexes of ``indexing-policy.json`` (type,
partition, status, then id) serve that order under the filters every search has. A page is the
first ``offset + limit + 1`` matches in that order (no OFFSET: an emulator workaround, see
``index``), sliced by the caller: the extra match says whether the result was cut. Offset and
limit are bounded (``shared.web.search_params``) to keep that prefix small.

Wildcards become functions that scan a value once (``shared.dicom.wildcard``), never a regular
expression. Where those functions only narrow the candidates, the query carries ``checks``: it
projects the values they test, has no TOP, and the caller keeps the candidates that pass until it
has its page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VR

from shared.dicom.query import (
    Match,
    RangeMatch,
    SearchQuery,
    ValueMatch,
    WildcardMatch,
    WordPrefixMatch,
)
from shared.dicom.query_levels import Level
from shared.dicom.wildcard import index_terms, matches
from shared.uid_index.documents import SEARCH_KEYS, TAG_JSON, TAG_KEYS
from shared.uid_index.keys import SeriesRef, StudyRef, doc_id
from shared.uid_index.lifecycle import Lifecycle
from shared.uid_index.person_names import NAME_GROUPS, NAME_WORDS

# What shaping a result needs; the search keys in ``q`` stay in the database, but for the values
# a wildcard check reads (``_Checks``).
_FIELDS = (
    "id",
    "pk",
    "studyUID",
    "seriesUID",
    "sopUID",
    "seriesKey",
    "json",
    TAG_JSON,
    "numberOfSeries",
    "numberOfInstances",
    "modalities",
)
# Attributes with a top-level field of their own in every document that holds them.
_UID_FIELDS = {"SeriesInstanceUID": "c.seriesUID", "SOPInstanceUID": "c.sopUID"}
_ARRAY_KEYS = frozenset({"ModalitiesInStudy"})


@dataclass(frozen=True)
class WildcardCheck:
    """The exact test of one wildcard match, on the value the query projects as ``column``."""

    column: str
    pattern: str
    any_element: bool
    """The value is an array (name groups, modalities): one matching element is enough."""

    def admits(self, doc: dict[str, Any]) -> bool:
        value = doc.get(self.column)
        if self.any_element:
            return isinstance(value, list) and any(self._matches(v) for v in value)
        return self._matches(value)

    def _matches(self, value: Any) -> bool:
        # As in the index: a value that is not a string (absent, a list) never matches.
        return isinstance(value, str) and matches(self.pattern, value)


@dataclass(frozen=True)
class CosmosQuery:
    """A query ready for ``ContainerProxy.query_items``."""

    text: str
    parameters: list[dict[str, Any]]
    partition_key: str | None = None
    """Set when the search is confined to one study: the query then runs in one partition."""
    checks: tuple[WildcardCheck, ...] = ()
    """Tests the service applies to each result; the query then has no TOP."""

    def admits(self, doc: dict[str, Any]) -> bool:
        return all(check.admits(doc) for check in self.checks)


@dataclass
class _Parameters:
    values: list[dict[str, Any]] = field(default_factory=list)

    def add(self, value: Any) -> str:
        name = f"@p{len(self.values)}"
        self.values.append({"name": name, "value": value})
        return name


@dataclass
class _Checks:
    """The wildcard checks of a query and the columns that project their values."""

    checks: list[WildcardCheck] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    def add(self, path: str, pattern: str, *, any_element: bool) -> None:
        column = f"w{len(self.checks)}"
        self.checks.append(WildcardCheck(column, pattern, any_element))
        self.columns.append(f"{path} AS {column}")


def page_size(query: SearchQuery) -> int:
    """How many matches the query asks for: the skipped ones, the page, and one to tell a cut."""
    return query.offset + query.limit + 1


def search_query(query: SearchQuery, partition: str) -> CosmosQuery:
    params = _Parameters()
    conditions = [
        f"c.type = {params.add(query.level.value)}",
        f"c.partition = {params.add(partition)}",
    ]
    if query.level is Level.INSTANCE:
        conditions.append(f"c.status = '{Lifecycle.CREATED.value}'")
    partition_key = None
    if query.study_uid is not None:
        partition_key = StudyRef(partition, query.study_uid).key
        conditions.append(f"c.pk = {params.add(partition_key)}")
    if query.series_uid is not None and query.study_uid is not None:
        series = SeriesRef(StudyRef(partition, query.study_uid), query.series_uid)
        conditions.append(f"c.seriesKey = {params.add(series.key)}")
    checks = _Checks()
    for match in query.matches:
        conditions.append(_condition(match, query, partition, params, checks))
    columns = ", ".join([*(f"c.{name}" for name in _FIELDS), *checks.columns])
    top = "" if checks.checks else f"TOP {params.add(page_size(query))} "
    text = f"SELECT {top}{columns} FROM c WHERE {' AND '.join(conditions)} ORDER BY c.id"
    return CosmosQuery(text, params.values, partition_key, tuple(checks.checks))


def aggregates_query(
    partition: str, study_keys: Iterable[str], series_keys: Iterable[str]
) -> CosmosQuery:
    """The study and series documents of a page's results, for their counts and modalities.

    One query for the whole page (at most ``MAX_LIMIT`` studies and series), routed to the
    partitions of those studies.
    """
    params = _Parameters()
    studies = sorted(set(study_keys))
    ids = [doc_id("study", key) for key in studies]
    ids += [doc_id("series", key) for key in sorted(set(series_keys))]
    text = (
        "SELECT c.id, c.numberOfSeries, c.numberOfInstances, c.modalities FROM c "
        f"WHERE c.partition = {params.add(partition)} "
        f"AND c.pk IN ({', '.join(params.add(k) for k in studies)}) "
        f"AND c.id IN ({', '.join(params.add(i) for i in ids)})"
    )
    return CosmosQuery(text, params.values)


def _path_and_vr(match: Match, query: SearchQuery) -> tuple[str, str]:
    """Where a match's values are, and their VR: an extended query tag's under its level and
    registration key, a built-in attribute's under its keyword."""
    tag = query.extended_tag(match.keyword)
    if tag is not None:
        return f"c.{TAG_KEYS}.{tag.level.query_level.value}.{tag.key}", tag.vr
    return f"c.{SEARCH_KEYS}.{match.keyword}", dictionary_VR(match.keyword)


def _condition(
    match: Match, query: SearchQuery, partition: str, params: _Parameters, checks: _Checks
) -> str:
    # No extended query tag is a built-in search key (``shared.dicom.query_tags``), so the
    # keywords tested here are built-in ones.
    if isinstance(match, ValueMatch) and match.keyword == "StudyInstanceUID":
        # The partition key is the study's digest: matching on it routes the query.
        keys = [StudyRef(partition, str(uid)).key for uid in match.values]
        return _in("c.pk", keys, params)
    if isinstance(match, ValueMatch) and match.keyword in _UID_FIELDS:
        return _in(_UID_FIELDS[match.keyword], match.values, params)
    path, vr = _path_and_vr(match, query)
    if isinstance(match, WordPrefixMatch):
        return " AND ".join(
            f"EXISTS(SELECT VALUE w FROM w IN {path}.{NAME_WORDS} "
            f"WHERE STARTSWITH(w, {params.add(word)}))"
            for word in match.words
        )
    if vr == "PN":
        path, any_element = f"{path}.{NAME_GROUPS}", True
    else:
        any_element = match.keyword in _ARRAY_KEYS
    if isinstance(match, WildcardMatch) and not index_terms(match.pattern).exact:
        checks.add(path, match.pattern, any_element=any_element)
    return _any(path, match, params) if any_element else _predicate(path, match, params)


def _any(array: str, match: Match, params: _Parameters) -> str:
    """The match applied to each element of an array: true if any element matches."""
    return f"EXISTS(SELECT VALUE v FROM v IN {array} WHERE {_predicate('v', match, params)})"


def _predicate(expression: str, match: Match, params: _Parameters) -> str:
    if isinstance(match, ValueMatch):
        return _in(expression, match.values, params)
    if isinstance(match, RangeMatch):
        bounds = []
        if match.low is not None:
            bounds.append(f"{expression} >= {params.add(match.low)}")
        if match.high is not None:
            bounds.append(f"{expression} <= {params.add(match.high)}")
        return f"({' AND '.join(bounds)})"
    if isinstance(match, WildcardMatch):
        return _wildcard(expression, match.pattern, params)
    raise ValueError(f"{type(match).__name__} does not apply to {match.keyword}")


def _wildcard(expression: str, pattern: str, params: _Parameters) -> str:
    """Conditions every value matching ``pattern`` meets, each one linear in the value."""
    terms = index_terms(pattern)
    conditions = []
    if terms.prefix:
        conditions.append(f"STARTSWITH({expression}, {params.add(terms.prefix)})")
    if terms.suffix:
        conditions.append(f"ENDSWITH({expression}, {params.add(terms.suffix)})")
    conditions += [f"CONTAINS({expression}, {params.add(run)})" for run in terms.contained]
    if not terms.exact:
        conditions.append(f"LENGTH({expression}) >= {params.add(terms.min_length)}")
    return f"({' AND '.join(conditions)})"


def _in(expression: str, values: Iterable[Any], params: _Parameters) -> str:
    names = [params.add(value) for value in values]
    if len(names) == 1:
        return f"{expression} = {names[0]}"
    return f"{expression} IN ({', '.join(names)})"
