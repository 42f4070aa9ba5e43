"""The SQL of every index look-up but search's (``search_sql``), written once each.

Document types and lifecycle states appear here as parameters or as the ``Lifecycle`` values, so
the strings the documents hold and the strings the queries test come from one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.uid_index.documents import (
    CHANGE,
    INSTANCE,
    INTENT,
    PARTITION,
    PARTITIONS_KEY,
    REFRESH,
    REINDEX,
    SERIES,
    STUDY,
    TAG_ERROR_KEYS,
    TAG_ERRORS,
    TAGS_PARTITION,
)
from shared.uid_index.index import DeleteScope
from shared.uid_index.keys import doc_id
from shared.uid_index.lifecycle import Lifecycle

_CREATED = f"'{Lifecycle.CREATED.value}'"
_PENDING = f"'{Lifecycle.PENDING.value}'"
_DELETING = f"'{Lifecycle.DELETING.value}'"
_PURGED = f"'{Lifecycle.PURGED.value}'"


@dataclass(frozen=True)
class Query:
    text: str
    params: dict[str, Any] = field(default_factory=dict)


def _in_study(key: str, condition: str, select: str = "*", **params: Any) -> Query:
    """A single-partition query, its key in the ``WHERE`` too (an emulator workaround, see
    ``index``)."""
    return Query(f"SELECT {select} FROM c WHERE c.pk = @pk AND {condition}", {"pk": key, **params})


_VISIBLE = f"c.type = '{INSTANCE}' AND c.status = {_CREATED}"


def visible_instances(study_key: str, series_key: str | None) -> Query:
    select = (
        "c.seriesUID, c.sopUID, c.version, c.transferSyntaxUID, c.size, c.q.InstanceNumber, "
        "c.q.SeriesNumber, c.originalVersion, c.originalSize"
    )
    if series_key is None:
        return _in_study(study_key, _VISIBLE, select)
    return _in_study(study_key, f"{_VISIBLE} AND c.seriesKey = @series", select, series=series_key)


def visible_count(study_key: str, series_key: str) -> Query:
    return _in_study(
        study_key, f"{_VISIBLE} AND c.seriesKey = @series", "VALUE COUNT(1)", series=series_key
    )


def newest_visible(study_key: str, series_key: str) -> Query:
    return _in_study(
        study_key,
        f"{_VISIBLE} AND c.seriesKey = @series ORDER BY c.version DESC",
        "TOP 1 *",
        series=series_key,
    )


def aggregates_of(study_key: str) -> Query:
    """The study's aggregate and its series' aggregates."""
    return _in_study(study_key, "(c.type = @series OR c.type = @study)", series=SERIES, study=STUDY)


def _scoped(scope: DeleteScope, condition: str, select: str = "*", **params: Any) -> Query:
    """A query for ``scope``'s instance documents meeting ``condition``."""
    text = f"c.type = '{INSTANCE}' AND ({condition})"
    if scope.series_key is not None:
        text += " AND c.seriesKey = @series"
        params["series"] = scope.series_key
    if scope.instance_key is not None:
        text += " AND c.id = @id"
        params["id"] = doc_id(INSTANCE, scope.instance_key)
    return _in_study(scope.study_key, text, select, **params)


def in_scope(scope: DeleteScope, before: str | None) -> Query:
    """What a delete takes: visible instances, and ones an earlier attempt hid and did not purge;
    for an intent carried out later, only what was stored before its request (an instance
    updated since was stored before it if its original was)."""
    if before is None:
        return _scoped(scope, f"c.status = {_CREATED} OR c.status = {_DELETING}")
    return _scoped(
        scope,
        f"(c.status = {_CREATED} AND (c.version < @before OR c.originalVersion < @before)) "
        f"OR c.status = {_DELETING}",
        before=before,
    )


def deleting_count(scope: DeleteScope) -> Query:
    return _scoped(scope, f"c.status = {_DELETING}", "VALUE COUNT(1)")


def expired_intents(now: float) -> Query:
    return Query(f"SELECT * FROM c WHERE c.type = '{INTENT}' AND c.leaseUntil < @now", {"now": now})


def expired_entries(now: float, limit: int) -> Query:
    return Query(
        f"SELECT TOP {int(limit)} * FROM c WHERE c.type = '{INSTANCE}' "
        f"AND (c.status = {_DELETING} OR c.status = {_PENDING}) AND c.leaseUntil < @now",
        {"now": now},
    )


MARKERS_PER_ROUND = 32
"""Markers one sweep round refreshes: each is a series and a study refresh."""


def overdue_markers(now: float) -> Query:
    return Query(
        f"SELECT TOP {MARKERS_PER_ROUND} * FROM c WHERE c.type = '{REFRESH}' "
        "AND c.leaseUntil < @now",
        {"now": now},
    )


ALL_INSTANCES = Query(f"SELECT * FROM c WHERE c.type = '{INSTANCE}' AND c.status != {_PURGED}")
VISIBLE_SERIES_KEYS = Query(f"SELECT c.pk, c.seriesKey FROM c WHERE {_VISIBLE}")
ANY = Query("SELECT TOP 1 c.id FROM c")


def of_type(kind: str) -> Query:
    return Query("SELECT * FROM c WHERE c.type = @type", {"type": kind})


def any_with_series(series_key: str) -> Query:
    """Any document of the series (an instance, or its aggregate) that names its UIDs."""
    return Query(
        "SELECT TOP 1 c.partition, c.studyUID, c.seriesUID FROM c WHERE c.seriesKey = @key "
        "AND IS_DEFINED(c.seriesUID)",
        {"key": series_key},
    )


def any_in_study(study_key: str) -> Query:
    """Any document of the study that names its UID (delete intents do not)."""
    return _in_study(study_key, "IS_DEFINED(c.studyUID)", "TOP 1 c.partition, c.studyUID")


def data_partitions() -> Query:
    return _in_study(PARTITIONS_KEY, "c.type = @type", "c.name, c.created", type=PARTITION)


# Extended query tags --------------------------------------------------------------------------

VISIBLE_COUNT = Query(f"SELECT VALUE COUNT(1) FROM c WHERE {_VISIBLE}")


def _built_before(generation: str) -> tuple[str, dict[str, Any]]:
    """Documents built before ``generation``: those written before tags existed have no
    ``tagsAt`` at all."""
    return "(NOT IS_DEFINED(c.tagsAt) OR c.tagsAt < @generation)", {"generation": generation}


def stale_instances(generation: str, limit: int) -> Query:
    condition, params = _built_before(generation)
    return Query(f"SELECT TOP {int(limit)} * FROM c WHERE {_VISIBLE} AND {condition}", params)


def due_operations(now: float) -> Query:
    return Query(
        f"SELECT * FROM c WHERE c.pk = @pk AND c.type = '{REINDEX}' "
        "AND c.status != @completed AND c.leaseUntil < @now",
        {"pk": TAGS_PARTITION, "completed": "completed", "now": now},
    )


def _with_error(key: str) -> tuple[str, dict[str, Any]]:
    return f"{_VISIBLE} AND ARRAY_CONTAINS(c.{TAG_ERROR_KEYS}, @key)", {"key": key}


def tag_errors(key: str, wanted: int) -> Query:
    """The first ``wanted`` instances with an error for ``key`` in id order (no OFFSET: an
    emulator workaround, see ``index``)."""
    condition, params = _with_error(key)
    return Query(
        f"SELECT TOP {int(wanted)} c.studyUID, c.seriesUID, c.sopUID, c.{TAG_ERRORS} FROM c "
        f"WHERE {condition} ORDER BY c.id",
        params,
    )


def error_count(key: str) -> Query:
    condition, params = _with_error(key)
    return Query(f"SELECT VALUE COUNT(1) FROM c WHERE {condition}", params)


# The change feed, one data partition at a time. ``seq`` is null until a round numbers the entry.
_CHANGES = f"SELECT {{select}} FROM c WHERE c.type = '{CHANGE}' AND c.partition = @partition"


def unnumbered_changes(partition: str, limit: int) -> Query:
    """The oldest entries still without a sequence."""
    select = f"TOP {int(limit)} c.pk, c.id, c.instanceKey, c.n, c.timestamp"
    return Query(
        _CHANGES.format(select=select) + " AND c.seq = null ORDER BY c.timestamp",
        {"partition": partition},
    )


def changes_numbered(partition: str, after: int, upto: int) -> Query:
    return Query(
        _CHANGES.format(select="*") + " AND c.seq > @after AND c.seq <= @upto ORDER BY c.seq",
        {"partition": partition, "after": after, "upto": upto},
    )


def changes_stamped(partition: str, upto: int, start: float, end: float, limit: int) -> Query:
    """The first ``limit`` readable entries time-stamped in ``[start, end)``."""
    return Query(
        _CHANGES.format(select=f"TOP {int(limit)} *")
        + " AND c.seq > 0 AND c.seq <= @upto AND c.timestamp >= @start AND c.timestamp < @end"
        + " ORDER BY c.seq",
        {"partition": partition, "upto": upto, "start": start, "end": end},
    )


def last_change(study_key: str, instance_key: str) -> Query:
    return _in_study(
        study_key,
        f"c.type = '{CHANGE}' AND c.instanceKey = @instance ORDER BY c.n DESC",
        "TOP 1 c.n, c.timestamp",
        instance=instance_key,
    )


ALL_CHANGES = Query(
    "SELECT c.id, c.partition, c.instanceKey, c.n, c.action, c.version, c.seq "
    f"FROM c WHERE c.type = '{CHANGE}'"
)
