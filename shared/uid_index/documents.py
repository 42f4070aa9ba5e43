"""The Cosmos documents of the index, built from an instance's DICOM JSON.

The same builder runs at store time and when the index is rebuilt from blob storage, so a rebuilt
index is identical to the one written live. Each document carries ``json`` (the DICOM JSON that
search returns for its level, parents included) and ``q`` (normalised values that queries filter
on, in the forms of ``shared.dicom.search_forms``: UIDs, codes and dates as given, numbers as
numbers, times as ``HHMMSS.FFFFFF`` so that ranges compare as strings, and person names as folded
component groups plus their words).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, NotRequired, TypedDict

from pydicom.datadict import dictionary_VR

from shared.dicom.attributes import (
    INSTANCE_ATTRIBUTES,
    SERIES_ATTRIBUTES,
    STUDY_ATTRIBUTES,
    tag_hex,
)
from shared.dicom.query_tags import QueryTag
from shared.dicom.search_forms import time_key
from shared.uid_index.changes import Action, History
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef, doc_id, partition_key
from shared.uid_index.lifecycle import Lifecycle
from shared.uid_index.person_names import person_names
from shared.uid_index.sidecar import OriginalCopy, Sidecar
from shared.uid_index.tag_values import NO_TAG_VALUES, TagValues

JsonDict = dict[str, Any]

SCHEMA = 2

# The paths search filters on: every search key is under ``q``, and a person name's under these.
SEARCH_KEYS: Final = "q"

# Document types, one per kind of document in a study's partition.
INSTANCE = "instance"
SERIES = "series"
STUDY = "study"
REFRESH = "refresh"
INTENT = "delete"
CHANGE = "change"
# The change feed's numbering state has a partition of its own, one per data partition.
FEED = "feed"
PARTITION = "partition"

PARTITIONS_KEY = "partitions"
"""The Cosmos partition key of the data partition registry: a few small documents, read whole."""

QUERY_TAGS = "querytags"
REINDEX = "reindex"

# Extended query tags' values, by level name then registration key (``xq``: indexed, in search
# forms), their DICOM JSON elements by level then tag path (``xjson``: returned, not indexed),
# and the errors of the values that could not be indexed (``xerr``, ``xerrKeys``).
TAG_KEYS: Final = "xq"
TAG_JSON: Final = "xjson"
TAG_ERRORS: Final = "xerr"
TAG_ERROR_KEYS: Final = "xerrKeys"
TAG_LEVELS = ("study", "series", "instance")
TAGS_PARTITION = QUERY_TAGS
"""The partition of the registry and the reindex operations (a study's is a 32-hex digest)."""


class Document(TypedDict):
    """What every document of a study's partition has: its id, partition key and kind.

    ``_etag`` is Cosmos DB's, present on every document read back and never written.
    """

    id: str
    pk: str
    type: str
    _etag: NotRequired[str]


class StudyDocument(Document):
    """A study's aggregate (``STUDY``), or any document about one study's data."""

    schema: int
    partition: str
    studyUID: str
    attrsVersion: NotRequired[str]
    numberOfSeries: NotRequired[int]
    numberOfInstances: NotRequired[int]
    modalities: NotRequired[list[str]]
    json: NotRequired[JsonDict]
    q: NotRequired[JsonDict]
    xq: NotRequired[dict[str, JsonDict]]
    xjson: NotRequired[dict[str, JsonDict]]


class SeriesDocument(StudyDocument):
    """A series' aggregate (``SERIES``), or any document about one series' data."""

    seriesKey: str
    seriesUID: str
    modality: NotRequired[str | None]


class RefreshDocument(SeriesDocument):
    """A refresh-due marker (``REFRESH``): the series' aggregates may lag until ``leaseUntil``."""

    leaseUntil: float


class InstanceDocument(SeriesDocument):
    """An instance entry (``INSTANCE``) in any state of its ``Lifecycle``.

    A pending entry (a claim) has no file facts, ``json`` or ``q`` yet; a committed one has all.
    """

    sopUID: str
    status: str
    version: str
    leaseUntil: float
    transferSyntaxUID: NotRequired[str]
    size: NotRequired[int]
    # The numbers retrieve reads, at the top level only in the rows ``visible_instances`` projects.
    InstanceNumber: NotRequired[int]
    SeriesNumber: NotRequired[int]
    xerr: NotRequired[list[TagErrorEntry]]
    xerrKeys: NotRequired[list[str]]
    tagsAt: NotRequired[str]
    """The registry generation the extended tag values were computed at."""
    changes: NotRequired[int]
    """How many change feed entries the instance has (``changes.History``); absent: none."""
    changedAt: NotRequired[float]
    """The timestamp of the last of them."""
    originalVersion: NotRequired[str]
    """The copy as first stored, when a bulk update changed the instance since: kept for
    ``msdicom-request-original`` and deleted with the instance."""
    originalSize: NotRequired[int]


class ChangeDocument(SeriesDocument):
    """One change feed entry (``CHANGE``): the instance's ``n``-th change, ``seq`` once numbered.

    Written in one transaction with the instance document's change it records, and kept when the
    instance is deleted.
    """

    sopUID: str
    instanceKey: str
    n: int
    action: str
    version: str
    timestamp: float
    seq: int | None


class FeedDocument(Document):
    """A data partition's change feed numbering (``FEED``): the last sequence published, and the
    round being numbered, if any, until ``leaseUntil``."""

    partition: str
    watermark: int
    plan: list[tuple[str, str, int]]
    """``(study key, entry id, sequence)`` of each entry the round numbers."""
    leaseUntil: float


class PartitionDocument(Document):
    """A data partition (``PARTITION``): its name, as the API spells it, and its creation time.

    Partition names are chosen by the archive's owner to name tenants, not patients.
    """

    name: str
    created: float


class TagErrorEntry(TypedDict):
    key: str
    message: str
    at: float


class RegistryDocument(Document):
    """The extended query tags (``QUERY_TAGS``), all in one document."""

    tags: list[JsonDict]
    generation: str


class OperationDocument(Document):
    """A reindex operation (``REINDEX``)."""

    operationId: str
    generation: str
    tagPaths: list[str]
    status: str
    total: int
    done: int
    created: float
    updated: float
    leaseUntil: float


class IntentDocument(Document):
    """A delete intent (``INTENT``): its scope, and the version before which instances go."""

    seriesKey: str | None
    instanceKey: str | None
    before: str
    leaseUntil: float


def _search_value(element: JsonDict) -> Any:
    values = element.get("Value")
    if not values:
        return None
    vr = element.get("vr")
    if vr == "SQ":
        return None
    if vr == "PN":
        return person_names(values)
    if vr == "TM":
        values = [time_key(str(v)) or str(v) for v in values]
    return values[0] if len(values) == 1 else list(values)


def _subset(metadata: JsonDict, keywords: Iterable[str], excluded: frozenset[str]) -> JsonDict:
    out: JsonDict = {}
    for keyword in keywords:
        key = tag_hex(keyword)
        if key in metadata and key not in excluded:
            out[key] = metadata[key]
    return out


def _search_keys(json: JsonDict, keywords: Iterable[str]) -> JsonDict:
    """The ``q`` of a document.

    Person-name keys are always present, with empty lists when the name is absent: queries
    reach into them (``q.PatientName.words``); why, among the emulator workarounds listed in
    ``shared.uid_index.cosmos.index``.
    """
    q: JsonDict = {}
    for keyword in keywords:
        element = json.get(tag_hex(keyword))
        value = None if element is None else _search_value(element)
        if value is None and dictionary_VR(keyword) == "PN":
            value = person_names([])
        if value is not None:
            q[keyword] = value
    return q


@dataclass(frozen=True)
class IndexRecord:
    """What the index needs to know about one stored copy of an instance."""

    ref: InstanceRef
    version: str
    transfer_syntax_uid: str
    size: int
    study_json: JsonDict
    series_json: JsonDict
    instance_json: JsonDict
    modality: str | None = None
    excluded_tags: tuple[str, ...] = field(default=())
    tag_values: TagValues = NO_TAG_VALUES
    tags_at: str = ""
    """The registry generation ``tag_values`` were computed at."""
    original: OriginalCopy | None = None
    """The copy as first stored, when this one is a bulk update's."""

    @classmethod
    def from_sidecar(
        cls, sidecar: Sidecar, tags: Iterable[QueryTag] = (), generation: str = ""
    ) -> IndexRecord:
        """The record of a stored copy, from what store computed once for it, with the values
        of ``tags``, the registry at ``generation``."""
        metadata = sidecar.metadata
        excluded = frozenset(sidecar.excluded_tags)
        series_json = _subset(metadata, SERIES_ATTRIBUTES, excluded)
        modality = _search_value(series_json.get(tag_hex("Modality"), {}))
        return cls(
            ref=sidecar.ref,
            version=sidecar.version,
            transfer_syntax_uid=sidecar.transfer_syntax_uid,
            size=sidecar.size,
            study_json=_subset(metadata, STUDY_ATTRIBUTES, excluded),
            series_json=series_json,
            instance_json=_subset(metadata, INSTANCE_ATTRIBUTES, excluded),
            modality=modality if isinstance(modality, str) else None,
            excluded_tags=tuple(sorted(excluded)),
            tag_values=TagValues.of(tags, metadata),
            tags_at=generation,
            original=sidecar.original,
        )


def instance_document(
    record: IndexRecord, *, status: Lifecycle, lease_until: float, history: History
) -> InstanceDocument:
    ref = record.ref
    json = {**record.study_json, **record.series_json, **record.instance_json}
    doc = claim_document(ref, record.version, lease_until=lease_until, history=history)
    doc["status"] = status
    doc["transferSyntaxUID"] = record.transfer_syntax_uid
    doc["size"] = record.size
    doc["modality"] = record.modality
    doc["json"] = json
    if record.original is not None:
        doc["originalVersion"] = record.original.version
        doc["originalSize"] = record.original.size
    doc[SEARCH_KEYS] = _search_keys(
        json, (*STUDY_ATTRIBUTES, *SERIES_ATTRIBUTES, *INSTANCE_ATTRIBUTES)
    )
    return with_tag_values(doc, record.tag_values, record.tags_at, at=time.time())


def with_tag_values(
    doc: InstanceDocument, values: TagValues, generation: str, *, at: float
) -> InstanceDocument:
    """``doc`` with its extended query tag values, errors and generation replaced; every level
    is present, empty or not, so the aggregates copy theirs by name."""
    errors: list[TagErrorEntry] = [
        {"key": key, "message": message, "at": at} for key, message in values.errors.items()
    ]
    return {
        **doc,
        TAG_KEYS: {level: dict(values.forms.get(level, {})) for level in TAG_LEVELS},
        TAG_JSON: {level: dict(values.elements.get(level, {})) for level in TAG_LEVELS},
        TAG_ERRORS: errors,
        TAG_ERROR_KEYS: [e["key"] for e in errors],
        "tagsAt": generation,
    }


def _tag_levels(doc: StudyDocument, levels: tuple[str, ...]) -> StudyDocument:
    """The extended query tag fields of ``levels``, as an aggregate copies them from a child."""
    return {  # type: ignore[typeddict-item]
        TAG_KEYS: {level: doc.get(TAG_KEYS, {}).get(level, {}) for level in levels},
        TAG_JSON: {level: doc.get(TAG_JSON, {}).get(level, {}) for level in levels},
    }


def returned_json(doc: StudyDocument) -> JsonDict:
    """What search returns of a document: its attributes and its extended query tags'."""
    extended = {k: v for elements in doc.get(TAG_JSON, {}).values() for k, v in elements.items()}
    return {**doc.get("json", {}), **extended}


def instance_ref(doc: InstanceDocument) -> InstanceRef:
    """The instance an instance document (pending, created or deleting) is about."""
    return InstanceRef.of(doc["partition"], doc["studyUID"], doc["seriesUID"], doc["sopUID"])


def claim_document(
    ref: InstanceRef, version: str, *, lease_until: float, history: History
) -> InstanceDocument:
    """A pending instance: reserves the SOP Instance UID while its file is uploaded.

    Pending documents are invisible to every read; they exist so a concurrent store of the same
    instance can be told 45071, and so a crashed store can be detected once its lease expires.
    They carry the instance's change history, should it have been stored and deleted before.
    """
    study = ref.study
    return {
        "id": ref.doc_id,
        "pk": study.key,
        "type": INSTANCE,
        "schema": SCHEMA,
        "partition": study.partition,
        "studyUID": study.study_uid,
        "seriesKey": ref.series.key,
        "seriesUID": ref.series.series_uid,
        "sopUID": ref.sop_instance_uid,
        "status": Lifecycle.PENDING,
        "version": version,
        "leaseUntil": lease_until,
        "changes": history.count,
        "changedAt": history.at,
    }


def history_of(doc: InstanceDocument) -> History:
    """The change history an instance document carries (none for one written before)."""
    return History(doc.get("changes", 0), doc.get("changedAt", 0.0))


def tombstone(doc: InstanceDocument) -> InstanceDocument:
    """What is kept of a purged instance: who it was and its change history."""
    ref = instance_ref(doc)
    stone = claim_document(ref, "", lease_until=0.0, history=history_of(doc))
    stone["status"] = Lifecycle.PURGED
    return stone


def change_document(
    ref: InstanceRef, version: str, action: Action, history: History
) -> ChangeDocument:
    """The entry of the instance's change ``history.count``, made at ``history.at``."""
    study = ref.study
    return {
        "id": change_id(ref.key, history.count),
        "pk": study.key,
        "type": CHANGE,
        "schema": SCHEMA,
        "partition": study.partition,
        "studyUID": study.study_uid,
        "seriesKey": ref.series.key,
        "seriesUID": ref.series.series_uid,
        "sopUID": ref.sop_instance_uid,
        "instanceKey": ref.key,
        "n": history.count,
        "action": action,
        "version": version,
        "timestamp": history.at,
        "seq": None,
    }


def change_id(instance_key: str, n: int) -> str:
    return f"{CHANGE}-{instance_key}-{n}"


def change_ref(doc: ChangeDocument) -> InstanceRef:
    """The instance a change feed entry is about."""
    return InstanceRef.of(doc["partition"], doc["studyUID"], doc["seriesUID"], doc["sopUID"])


def feed_id(partition: str) -> str:
    """The id, and partition key, of a data partition's change feed numbering document."""
    return f"{FEED}-{partition}"


def feed_document(partition: str) -> FeedDocument:
    """A change feed with nothing numbered yet."""
    id_ = feed_id(partition)
    return {
        "id": id_,
        "pk": id_,
        "type": FEED,
        "partition": partition,
        "watermark": 0,
        "plan": [],
        "leaseUntil": 0.0,
    }


def refresh_due_document(series: SeriesRef, *, lease_until: float) -> RefreshDocument:
    """A series whose aggregates may lag behind its committed instances until ``leaseUntil``.

    Written before a request's first commit into the series, so that if the request dies before
    refreshing, the sweep knows which series to refresh. Invisible to every read: searches and
    aggregates select their own types.
    """
    study = series.study
    return {
        "id": doc_id(REFRESH, series.key),
        "pk": study.key,
        "type": REFRESH,
        "schema": SCHEMA,
        "partition": study.partition,
        "studyUID": study.study_uid,
        "seriesKey": series.key,
        "seriesUID": series.series_uid,
        "leaseUntil": lease_until,
    }


def refresh_due_series(doc: RefreshDocument) -> SeriesRef:
    """The series a refresh-due document is about."""
    return SeriesRef(StudyRef(doc["partition"], doc["studyUID"]), doc["seriesUID"])


def series_from_instance(instance: InstanceDocument, number_of_instances: int) -> SeriesDocument:
    """A series document: the series' newest instance's attributes, and its instance count."""
    keep = {tag_hex(k) for k in (*STUDY_ATTRIBUTES, *SERIES_ATTRIBUTES)}
    keep_q = {*STUDY_ATTRIBUTES, *SERIES_ATTRIBUTES}
    return {
        **_aggregate_base(instance, doc_id(SERIES, instance["seriesKey"]), SERIES),
        "seriesKey": instance["seriesKey"],
        "seriesUID": instance["seriesUID"],
        "modality": instance.get("modality"),
        "attrsVersion": instance["version"],
        "numberOfInstances": number_of_instances,
        "json": {k: v for k, v in instance.get("json", {}).items() if k in keep},
        SEARCH_KEYS: {k: v for k, v in instance.get(SEARCH_KEYS, {}).items() if k in keep_q},
        **_tag_levels(instance, ("study", "series")),
    }


def study_from_series(series: list[SeriesDocument]) -> StudyDocument:
    """A study document: the newest series' study attributes, and aggregates over all series."""
    newest = max(series, key=lambda s: str(s.get("attrsVersion")))
    keep = {tag_hex(k) for k in STUDY_ATTRIBUTES}
    modalities = sorted({m for s in series if (m := s.get("modality"))})
    q = {k: v for k, v in newest.get(SEARCH_KEYS, {}).items() if k in STUDY_ATTRIBUTES}
    q["ModalitiesInStudy"] = modalities
    return {
        **_aggregate_base(newest, doc_id(STUDY, newest["pk"]), STUDY),
        "attrsVersion": newest.get("attrsVersion", ""),
        "numberOfSeries": len(series),
        "numberOfInstances": sum(s.get("numberOfInstances", 0) for s in series),
        "modalities": modalities,
        "json": {k: v for k, v in newest.get("json", {}).items() if k in keep},
        SEARCH_KEYS: q,
        **_tag_levels(newest, ("study",)),
    }


def _aggregate_base(child: StudyDocument, id_: str, kind: str) -> StudyDocument:
    """An aggregate's identity, in its children's partition and schema."""
    return {
        "id": id_,
        "pk": child["pk"],
        "type": kind,
        "schema": child["schema"],
        "partition": child["partition"],
        "studyUID": child["studyUID"],
    }


def partition_document(name: str, created: float) -> PartitionDocument:
    return {
        "id": doc_id(PARTITION, partition_key(name)),
        "pk": PARTITIONS_KEY,
        "type": PARTITION,
        "name": name,
        "created": created,
    }


def intent_document(
    id_: str,
    study_key: str,
    series_key: str | None,
    instance_key: str | None,
    *,
    before: str,
    lease_until: float,
) -> IntentDocument:
    """A delete intent: what a DELETE removes, kept until every instance in it is gone."""
    return {
        "id": id_,
        "pk": study_key,
        "type": INTENT,
        "seriesKey": series_key,
        "instanceKey": instance_key,
        "before": before,
        "leaseUntil": lease_until,
    }
