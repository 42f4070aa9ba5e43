"""The index on Cosmos DB for NoSQL: every read, write and condition of its documents.

Each study's documents share one partition (``pk``, the study's digest): instances, the series
and study aggregates, refresh-due markers, delete intents and change feed entries. Every
conditional write is an ``IfNotModified`` on the etag last read, which is how the lifecycle of
``shared.uid_index.index`` stays consistent; the one transaction is an instance's change and its
change feed entry (and, in a commit that carries it, its series' refresh-due marker), written
together in a transactional batch of the study's partition (``_change``). Numbering and
reading the feed is in ``feed``.

Emulator workarounds, each needed once and kept here:

- single-partition queries give the partition key both as a request option and in the ``WHERE``
  (``c.pk = @pk``): the emulator needs both;
- person-name search keys always exist, empty when absent (``documents``): the emulator fails on
  a path that runs through an undefined object (``q.PatientName.words``) where Azure would simply
  not match;
- there is no ``OFFSET``: a page is the first ``offset + limit + 1`` matches (``search_sql``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, cast

from azure.core.pipeline.transport import AioHttpTransport
from azure.cosmos import PartitionKey
from azure.cosmos.aio import CosmosClient
from azure.cosmos.exceptions import (
    CosmosBatchOperationError,
    CosmosResourceExistsError,
)

from shared.config import Settings
from shared.dicom.query import SearchQuery
from shared.uid_index.changes import Action, History
from shared.uid_index.container import PARTITION_KEY_PATH, indexing_policy
from shared.uid_index.cosmos import sql
from shared.uid_index.cosmos.batches import GroupedBatches
from shared.uid_index.cosmos.feed import CosmosChangeFeed, stored_instance
from shared.uid_index.cosmos.guard import query_deadline, unavailable
from shared.uid_index.cosmos.items import CHANGED, Row, body
from shared.uid_index.cosmos.query_tags import CosmosTags
from shared.uid_index.cosmos.refreshes import Refreshes
from shared.uid_index.cosmos.search_sql import (
    CosmosQuery,
    aggregates_query,
    page_size,
    search_query,
)
from shared.uid_index.documents import (
    PARTITIONS_KEY,
    REFRESH,
    SERIES,
    STUDY,
    IndexRecord,
    InstanceDocument,
    IntentDocument,
    RefreshDocument,
    SeriesDocument,
    StudyDocument,
    change_document,
    claim_document,
    history_of,
    instance_document,
    instance_ref,
    intent_document,
    partition_document,
    refresh_due_document,
    refresh_due_series,
    returned_json,
    series_from_instance,
    study_from_series,
    tombstone,
)
from shared.uid_index.index import (
    ALREADY_EXISTS,
    BEING_CREATED,
    LEASE_SECONDS,
    SERIES_PER_REFRESH,
    AggregatesRead,
    Change,
    ChangeRecord,
    Claim,
    Counts,
    DataPartition,
    DeleteIntent,
    DeleteScope,
    InstanceConflict,
    InstanceEntry,
    RefreshMarker,
    SearchHit,
    SeriesAggregate,
    StoredInstance,
    StudyAggregate,
)
from shared.uid_index.keys import (
    InstanceRef,
    SeriesRef,
    StudyRef,
    doc_id,
    new_version,
    version_time,
)
from shared.uid_index.lifecycle import Lifecycle

_ATTEMPTS = 50


class _ChangedInBatch(Exception):
    """The conditional write of a transactional batch failed: nothing of the batch was written."""


_CHANGED = (*CHANGED, _ChangedInBatch)
"""A conditional write that failed because someone else got there first."""
_PRECONDITIONS = (404, 409, 412)
_EXISTS = 409


def _entry(doc: InstanceDocument) -> InstanceEntry:
    return InstanceEntry(
        instance_ref(doc),
        Lifecycle(doc["status"]),
        str(doc["version"]),
        float(doc["leaseUntil"]),
        doc["_etag"],
        doc,
        history_of(doc),
        doc.get("originalVersion"),
    )


def _unreferenced(claim: Claim) -> list[str]:
    """The versions a commit of ``claim`` leaves unreferenced: the copy it replaces, unless an
    update keeps it as the original, and an original that a store of a new copy replaces."""
    versions = [] if claim.leftover_version is None else [claim.leftover_version]
    if claim.updating and claim.original_version is None:
        return []  # the copy updated is the original: kept
    if not claim.updating and claim.original_version is not None:
        versions.append(claim.original_version)
    return versions


_SYSTEM = frozenset({"_etag", "_rid", "_self", "_ts", "_attachments"})


def _write(
    id_: str,
    current: StudyDocument | None,
    desired: StudyDocument | None,
    *,
    always: bool = False,
) -> list[Any]:
    """The batch operations that make an aggregate ``desired`` from ``current`` (as read, with
    its etag): none when it holds that already, unless ``always``."""
    if desired is None:
        if current is None:
            return []
        return [("delete", (id_,), {"if_match_etag": current["_etag"]})]
    if current is None:
        return [("create", (body(desired),))]
    if not always and {k: v for k, v in current.items() if k not in _SYSTEM} == desired:
        return []
    return [("replace", (id_, body(desired)), {"if_match_etag": current["_etag"]})]


def counts_of(doc: StudyDocument) -> Counts:
    """The counts an aggregate document holds (a series has no series count: 0)."""
    return Counts(
        int(doc.get("numberOfSeries") or 0),
        int(doc["numberOfInstances"]),
        tuple(doc.get("modalities") or ()),
    )


def search_hit(row: Row) -> SearchHit:
    """A search row as the service sees it; a row with counts is a study or series aggregate."""
    doc = cast(InstanceDocument, row)
    return SearchHit(
        study_uid=doc["studyUID"],
        series_uid=doc.get("seriesUID"),
        sop_uid=doc.get("sopUID"),
        study_key=doc["pk"],
        series_key=doc.get("seriesKey"),
        json=returned_json(doc),
        counts=counts_of(doc) if "numberOfInstances" in doc else None,
    )


def _intent(row: Row) -> DeleteIntent:
    doc = cast(IntentDocument, row)
    scope = DeleteScope(doc["pk"], doc.get("seriesKey"), doc.get("instanceKey"))
    return DeleteIntent(scope, doc["before"], float(doc["leaseUntil"]), doc["_etag"], doc)


def _intent_id(scope: DeleteScope) -> str:
    return f"delete-{scope.operation_id}"


def _marker(row: Row) -> RefreshMarker:
    doc = cast(RefreshDocument, row)
    return RefreshMarker(refresh_due_series(doc), doc["_etag"])


def _marker_write(series: SeriesRef, lease_until: float | None) -> tuple[Any, ...]:
    """The batch operation that writes the series' refresh-due marker with a commit, if any."""
    if lease_until is None:
        return ()
    return (("upsert", (body(refresh_due_document(series, lease_until=lease_until)),)),)


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0.002, 0.01) * min(attempt + 1, 10))


class CosmosIndex(CosmosTags):
    """``shared.uid_index.index.Index`` on one Cosmos DB container."""

    def __init__(self, client: CosmosClient, database: str, container: str) -> None:
        super().__init__(client.get_database_client(database).get_container_client(container))
        self.client = client
        self.database = database
        self._container_name = container
        self._feed = CosmosChangeFeed(self.container)
        self._batches = GroupedBatches(self.container)
        self._refreshes = Refreshes(self._refresh, SERIES_PER_REFRESH)

    async def close(self) -> None:
        await self.client.close()

    async def provision(self) -> None:
        """Create the database and container (the local emulator starts empty; Azure's are
        declared in Bicep, from the same ``indexing-policy.json``)."""
        with unavailable():
            database = await self.client.create_database_if_not_exists(self.database)
            await database.create_container_if_not_exists(
                id=self._container_name,
                partition_key=PartitionKey(path=PARTITION_KEY_PATH),
                indexing_policy=indexing_policy(),
            )

    # Primitives -------------------------------------------------------------------------------

    async def _change(
        self,
        doc: InstanceDocument,
        etag: str | None,
        action: Action,
        history: History,
        *,
        also: tuple[Any, ...] = (),
    ) -> InstanceDocument:
        """Write ``doc`` (replacing the version read at ``etag``, or creating it when None) and
        the change feed entry ``history`` describes, both or neither, and with them the batch
        operations ``also`` (unconditional writes of the study's partition).

        Raises ``_ChangedInBatch`` when the document changed since it was read (or exists, or is
        gone): then nothing was written. ``also`` goes last, so that the failed operation's
        index still tells the instance write (0) from the feed entry (1).
        """
        ref = instance_ref(doc)
        for _ in range(2):
            entry = change_document(ref, doc["version"], action, history)
            write = (
                ("create", (body(doc),))
                if etag is None
                else ("replace", (doc["id"], body(doc)), {"if_match_etag": etag})
            )
            try:
                results = await self._batches.execute(
                    [write, ("create", (body(entry),)), *also], partition_key=doc["pk"]
                )
                break
            except CosmosBatchOperationError as exc:
                if exc.error_index == 0 and exc.status_code in _PRECONDITIONS:
                    raise _ChangedInBatch from None
                if exc.error_index != 1 or exc.status_code != 409:
                    raise
            # The instance's document lost its history (removed by hand, or written before the
            # feed): its entries go on after the last one it has.
            last = await self._all(sql.last_change(ref.study.key, ref.key), ref.study.key)
            history = History(int(last[0]["n"]), float(last[0]["timestamp"])).next(history.at)
            doc = {**doc, "changes": history.count, "changedAt": history.at}
        else:
            raise RuntimeError("change feed entry could not be written")
        return cast(InstanceDocument, results[0]["resourceBody"])

    # Store ------------------------------------------------------------------------------------

    async def claim(self, ref: InstanceRef, version: str, *, upsert: bool) -> Claim:
        with unavailable():
            for attempt in range(_ATTEMPTS):
                now = time.time()
                lease_until = now + LEASE_SECONDS
                doc = claim_document(ref, version, lease_until=lease_until, history=History())
                try:
                    # Grouped with the commits into the study (``batches``): the parts of a
                    # request claim and commit close together.
                    created = await self._batches.execute(
                        [("create", (body(doc),))], partition_key=doc["pk"]
                    )
                    return Claim(ref, version, created[0]["resourceBody"]["_etag"])
                except CosmosBatchOperationError as exc:
                    if exc.status_code != _EXISTS:
                        raise
                existing = await self._read_instance(ref)
                if existing is None:
                    continue
                history = history_of(existing)
                if existing["status"] == Lifecycle.CREATED:
                    if not upsert:
                        raise InstanceConflict(ALREADY_EXISTS)
                    return Claim(
                        ref,
                        version,
                        existing["_etag"],
                        replacing=True,
                        leftover_version=existing["version"],
                        history=history,
                        original_version=existing.get("originalVersion"),
                    )
                if existing["leaseUntil"] > now:
                    raise InstanceConflict(BEING_CREATED)
                # An expired claim, or a purged instance stored again: its history goes on.
                doc = claim_document(ref, version, lease_until=lease_until, history=history)
                try:
                    taken = await self._replace(doc, existing["_etag"])
                except _CHANGED:
                    await _backoff(attempt)
                    continue
                leftover = existing["version"] or None
                return Claim(
                    ref, version, taken["_etag"], leftover_version=leftover, history=history
                )
        raise InstanceConflict(BEING_CREATED)

    async def renew(self, claim: Claim) -> None:
        if claim.replacing:
            return
        doc = claim_document(
            claim.ref, claim.version, lease_until=time.time() + LEASE_SECONDS, history=claim.history
        )
        with unavailable():
            try:
                renewed = await self._replace(doc, claim.etag)
            except _CHANGED as exc:
                raise InstanceConflict(BEING_CREATED) from exc
        claim.etag = renewed["_etag"]

    async def claim_update(self, current: StoredInstance, version: str) -> Claim:
        with unavailable():
            existing = await self._read_instance(current.ref)
        if (
            existing is None
            or existing["status"] != Lifecycle.CREATED
            or existing["version"] != current.version
        ):
            raise InstanceConflict(BEING_CREATED)
        return Claim(
            current.ref,
            version,
            existing["_etag"],
            replacing=True,
            leftover_version=existing["version"],
            history=history_of(existing),
            updating=True,
            original_version=existing.get("originalVersion"),
        )

    async def commit(
        self, claim: Claim, record: IndexRecord, *, refresh_marker_lease: float | None = None
    ) -> list[str]:
        action = Action.UPDATE if claim.updating else Action.CREATE
        marker = _marker_write(claim.ref.series, refresh_marker_lease)
        with unavailable():
            for attempt in range(_ATTEMPTS):
                change = claim.history.next(time.time())
                doc = instance_document(
                    record, status=Lifecycle.CREATED, lease_until=0.0, history=change
                )
                try:
                    await self._change(doc, claim.etag, action, change, also=marker)
                    return _unreferenced(claim)
                except _CHANGED:
                    if not claim.replacing or claim.updating:
                        # Our lease ran out and another store took the instance over, or the
                        # copy an update was made from is no longer the instance's.
                        raise InstanceConflict(BEING_CREATED) from None
                current = await self._read_instance(claim.ref)
                if current is None or current["status"] != Lifecycle.CREATED:
                    raise InstanceConflict(BEING_CREATED)
                # A concurrent upsert won the race; the last one to commit wins.
                claim = replace(
                    claim,
                    etag=current["_etag"],
                    leftover_version=current["version"],
                    original_version=current.get("originalVersion"),
                    history=history_of(current),
                )
                await _backoff(attempt)
        raise InstanceConflict(BEING_CREATED)

    async def commit_new(
        self, record: IndexRecord, *, refresh_marker_lease: float | None = None
    ) -> bool:
        change = History().next(time.time())
        doc = instance_document(record, status=Lifecycle.CREATED, lease_until=0.0, history=change)
        marker = _marker_write(record.ref.series, refresh_marker_lease)
        with unavailable():
            try:
                await self._change(doc, None, Action.CREATE, change, also=marker)
            except _ChangedInBatch:
                return False
        return True

    async def release(self, claim: Claim) -> None:
        if claim.replacing:
            return
        with unavailable():
            if claim.history.count == 0:
                await self._delete_unless_changed(claim.ref.doc_id, claim.ref.study.key, claim.etag)
                return
            pending = claim_document(
                claim.ref, claim.version, lease_until=0.0, history=claim.history
            )
            with contextlib.suppress(*_CHANGED):
                await self._replace(tombstone(pending), claim.etag)

    async def put_committed(self, record: IndexRecord) -> None:
        """Upsert as committed; a new version (or a new instance) is a change, time-stamped
        when its store began (the version's time), as the store that died would have been."""
        with unavailable():
            for attempt in range(_ATTEMPTS):
                current = await self._read_instance(record.ref)
                history = History() if current is None else history_of(current)
                if current is not None and (current["status"], current["version"]) == (
                    Lifecycle.CREATED,
                    record.version,
                ):
                    doc = instance_document(
                        record, status=Lifecycle.CREATED, lease_until=0.0, history=history
                    )
                    with contextlib.suppress(*_CHANGED):
                        await self._replace(doc, current["_etag"])
                        return
                else:
                    change = history.next(version_time(record.version).timestamp())
                    doc = instance_document(
                        record, status=Lifecycle.CREATED, lease_until=0.0, history=change
                    )
                    etag = None if current is None else current["_etag"]
                    with contextlib.suppress(*_CHANGED):
                        await self._change(doc, etag, Action.CREATE, change)
                        return
                await _backoff(attempt)
        raise RuntimeError("index entry could not be written")

    async def record_partition(self, name: str, created: float) -> None:
        with unavailable(), contextlib.suppress(CosmosResourceExistsError):
            await self.container.create_item(body(partition_document(name, created)))

    async def partitions(self) -> list[DataPartition]:
        with unavailable():
            rows = await self._all(sql.data_partitions(), PARTITIONS_KEY)
        found = [DataPartition(str(row["name"]), float(row["created"])) for row in rows]
        return sorted(found, key=lambda p: (p.created, p.name))

    # Retrieve and search ----------------------------------------------------------------------

    async def visible(self, scope: StudyRef | SeriesRef | InstanceRef) -> list[StoredInstance]:
        if isinstance(scope, InstanceRef):
            with unavailable():
                doc = await self._read_instance(scope)
            if doc is None or doc["status"] != Lifecycle.CREATED:
                return []
            return [stored_instance(scope, doc)]
        study = scope if isinstance(scope, StudyRef) else scope.study
        series_key = None if isinstance(scope, StudyRef) else scope.key
        async with query_deadline():
            with unavailable():
                rows = await self._all(sql.visible_instances(study.key, series_key), study.key)
        instances = [
            stored_instance(InstanceRef(SeriesRef(study, row["seriesUID"]), row["sopUID"]), row)
            for row in cast(list[InstanceDocument], rows)
        ]
        # A stable order, so that repeated retrieves of an unchanged study are byte-identical.
        return sorted(instances, key=lambda i: (i.ref.series.series_uid, i.ref.sop_instance_uid))

    async def search(self, query: SearchQuery, partition: str) -> list[SearchHit]:
        async with query_deadline():
            with unavailable():
                rows = await self._matches(search_query(query, partition), page_size(query))
        return [search_hit(row) for row in rows]

    async def _matches(self, query: CosmosQuery, wanted: int) -> list[Row]:
        """The first ``wanted`` rows that pass the query's checks, reading no further than that.

        A query with checks has no TOP, so its candidates come a page at a time, as many as are
        wanted per page, until enough have passed.
        """
        found: list[Row] = []
        async for item in self.container.query_items(
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

    async def parent_counts(
        self, partition: str, study_keys: Iterable[str], series_keys: Iterable[str]
    ) -> dict[str, Counts]:
        query = aggregates_query(partition, study_keys, series_keys)
        async with query_deadline():
            with unavailable():
                rows = [
                    row
                    async for row in self.container.query_items(
                        query=query.text, parameters=query.parameters
                    )
                ]
        return {row["id"]: counts_of(row) for row in cast(list[StudyDocument], rows)}

    # Aggregates -------------------------------------------------------------------------------

    async def read_aggregates(self, study: StudyRef) -> AggregatesRead:
        key = study.key
        stamp = self._refreshes.stamp()  # as sent: a refresh ending from now on makes it stale
        with unavailable():
            rows = tuple(await self._all(sql.aggregates_of(key), key))
        return AggregatesRead(study, (stamp, rows))

    async def refresh(
        self, study: StudyRef, series: Iterable[SeriesRef], read: AggregatesRead | None = None
    ) -> None:
        """One refresh of a study at a time in this process; those asked for meanwhile run
        together next (``refreshes``)."""
        stamp, rows = 0, None
        if read is not None and read.study == study:
            stamp, rows = cast(tuple[int, tuple[SeriesDocument, ...]], read.state)
        await self._refreshes.refresh(study, series, rows, stamp)

    async def _refresh(self, study: StudyRef, named: list[SeriesRef], ahead: object | None) -> None:
        """Read the study's aggregates (with their etags), unless ``ahead`` has them, then count
        and take the newest instance of each series named, then write every aggregate that
        changed in one transactional batch, conditional on those etags; repeat until a batch
        sticks. Nothing to write is final only on aggregates read by the attempt itself.

        Whoever writes last has computed after every commit that preceded it (its etags were
        read before its children), so concurrent refreshes end exact; and as every series write
        goes with a write of its study, a study computed from a stale series never sticks.
        """
        key = study.key
        with unavailable():
            for attempt in range(_ATTEMPTS):
                from_ahead = attempt == 0 and ahead is not None
                if from_ahead:
                    rows = list(cast(tuple[SeriesDocument, ...], ahead))
                else:
                    rows = cast(list[SeriesDocument], await self._all(sql.aggregates_of(key), key))
                study_doc = next((r for r in rows if r["type"] == STUDY), None)
                current = {r["seriesKey"]: r for r in rows if r["type"] == SERIES}
                computed = await asyncio.gather(*(self._series_now(s) for s in named))
                desired = dict(current)
                for one, doc in zip(named, computed, strict=True):
                    if doc is None:
                        desired.pop(one.key, None)
                    else:
                        desired[one.key] = doc
                series_writes = [
                    op
                    for one, doc in zip(named, computed, strict=True)
                    for op in _write(one.doc_id, current.get(one.key), doc)
                ]
                # The study is written whenever a series is, even unchanged, so that its etag
                # moves with every series write: a concurrent refresh that read the series
                # before then fails on it and reads again.
                operations = series_writes + _write(
                    study.doc_id,
                    study_doc,
                    study_from_series(list(desired.values())) if desired else None,
                    always=bool(series_writes),
                )
                if not operations:
                    if from_ahead:
                        # Nothing to write, judged on a read that may predate another
                        # refresh's write (one without this request's commits): read again.
                        continue
                    return
                try:
                    await self._batches.execute(operations, partition_key=key)
                    return
                except CosmosBatchOperationError as exc:
                    if exc.status_code not in _PRECONDITIONS:
                        raise
                    await _backoff(attempt)
        raise RuntimeError("index aggregate did not converge")

    async def _series_now(self, series: SeriesRef) -> SeriesDocument | None:
        """The series' aggregate as its visible instances make it now; None if it has none."""
        key = series.study.key
        count, newest = await asyncio.gather(
            self._all(sql.visible_count(key, series.key), key),
            self._all(sql.newest_visible(key, series.key), key),
        )
        if not count or not count[0] or not newest:
            return None
        return series_from_instance(cast(InstanceDocument, newest[0]), int(count[0]))

    async def overdue_markers(self) -> list[RefreshMarker]:
        with unavailable():
            return [_marker(d) for d in await self._all(sql.overdue_markers(time.time()))]

    async def clear_marker(self, marker: RefreshMarker) -> None:
        series = marker.series
        with unavailable():
            await self._delete_unless_changed(
                doc_id(REFRESH, series.key), series.study.key, marker.etag
            )

    # Delete and sweep -------------------------------------------------------------------------

    async def _as_read(self, read_as: Any, id_: str, key: str, etag: str) -> Row | None:
        """The document an entry or intent was read from; read again if it came from elsewhere,
        and None if it changed since."""
        doc = read_as if isinstance(read_as, dict) else await self._read(id_, key)
        return doc if doc is not None and doc["_etag"] == etag else None

    async def in_scope(self, scope: DeleteScope, before: str | None = None) -> list[InstanceEntry]:
        with unavailable():
            docs = await self._all(sql.in_scope(scope, before), scope.study_key)
        return [_entry(d) for d in cast(list[InstanceDocument], docs)]

    async def hide(self, entry: InstanceEntry, lease_until: float) -> InstanceEntry | None:
        with unavailable():
            doc = await self._as_read(
                entry.read_as, entry.ref.doc_id, entry.ref.study.key, entry.etag
            )
            if doc is None:
                return None
            instance = cast(InstanceDocument, doc)
            if instance["status"] != Lifecycle.CREATED:
                hidden = await self._replace_unless_changed(
                    doc, status=Lifecycle.DELETING, leaseUntil=lease_until
                )
                return None if hidden is None else _entry(cast(InstanceDocument, hidden))
            # The delete takes effect here: the instance's change, with its entry.
            change = history_of(instance).next(time.time())
            deleting: InstanceDocument = {
                **instance,
                "status": Lifecycle.DELETING,
                "leaseUntil": lease_until,
                "changes": change.count,
                "changedAt": change.at,
            }
            try:
                written = await self._change(deleting, instance["_etag"], Action.DELETE, change)
            except _CHANGED:
                return None
        return _entry(written)

    async def forget(self, entry: InstanceEntry) -> None:
        """Purge the entry: a tombstone stays when the instance has change feed history; a
        ``created`` entry (repair of one whose files are gone) is deleted as a change."""
        with unavailable():
            doc = await self._as_read(
                entry.read_as, entry.ref.doc_id, entry.ref.study.key, entry.etag
            )
            if doc is None:
                return
            instance = cast(InstanceDocument, doc)
            history = history_of(instance)
            with contextlib.suppress(*_CHANGED):
                if instance["status"] == Lifecycle.CREATED:
                    change = history.next(time.time())
                    stone = tombstone({**instance, "changes": change.count, "changedAt": change.at})
                    await self._change(stone, instance["_etag"], Action.DELETE, change)
                elif history.count:
                    await self._replace(tombstone(instance), instance["_etag"])
                else:
                    await self._delete_unless_changed(
                        entry.ref.doc_id, entry.ref.study.key, entry.etag
                    )

    async def record_intent(self, scope: DeleteScope, lease_until: float) -> DeleteIntent:
        doc = intent_document(
            _intent_id(scope),
            scope.study_key,
            scope.series_key,
            scope.instance_key,
            before=new_version(),
            lease_until=lease_until,
        )
        with unavailable():
            return _intent(await self.container.upsert_item(body(doc)))

    async def take_over_intent(
        self, intent: DeleteIntent, lease_until: float
    ) -> DeleteIntent | None:
        with unavailable():
            scope = intent.scope
            doc = await self._as_read(
                intent.read_as, _intent_id(scope), scope.study_key, intent.etag
            )
            if doc is None:
                return None
            taken = await self._replace_unless_changed(doc, leaseUntil=lease_until)
        return None if taken is None else _intent(taken)

    async def drop_intent(self, intent: DeleteIntent) -> None:
        with unavailable():
            await self._delete_unless_changed(
                _intent_id(intent.scope), intent.scope.study_key, intent.etag
            )

    async def has_intent(self, scope: DeleteScope) -> bool:
        with unavailable():
            return await self._read(_intent_id(scope), scope.study_key) is not None

    async def deleting_count(self, scope: DeleteScope) -> int:
        with unavailable():
            counts = await self._all(sql.deleting_count(scope), scope.study_key)
        return int(counts[0]) if counts else 0

    async def expired_intents(self, now: float) -> list[DeleteIntent]:
        with unavailable():
            return [_intent(d) for d in await self._all(sql.expired_intents(now))]

    async def expired_entries(self, now: float, limit: int) -> list[InstanceEntry]:
        with unavailable():
            docs = await self._all(sql.expired_entries(now, limit))
        return [_entry(d) for d in cast(list[InstanceDocument], docs)]

    # Verify and rebuild -----------------------------------------------------------------------

    async def all_entries(self) -> list[InstanceEntry]:
        with unavailable():
            docs = await self._all(sql.ALL_INSTANCES)
        return [_entry(d) for d in cast(list[InstanceDocument], docs)]

    async def all_changes(self) -> list[ChangeRecord]:
        with unavailable():
            rows = await self._all(sql.ALL_CHANGES)
        return [
            ChangeRecord(
                r["id"],
                r["partition"],
                r["instanceKey"],
                r["n"],
                Action(r["action"]),
                r["version"],
                r["seq"],
            )
            for r in rows
        ]

    async def record_current(self, entry: InstanceEntry) -> None:
        with unavailable():
            doc = await self._as_read(
                entry.read_as, entry.ref.doc_id, entry.ref.study.key, entry.etag
            )
            if doc is None or doc["status"] != Lifecycle.CREATED:
                return
            instance = cast(InstanceDocument, doc)
            change = history_of(instance).next(version_time(instance["version"]).timestamp())
            recorded: InstanceDocument = {
                **instance,
                "changes": change.count,
                "changedAt": change.at,
            }
            with contextlib.suppress(*_CHANGED):
                await self._change(recorded, instance["_etag"], Action.CREATE, change)

    async def visible_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with unavailable():
            async for row in self._rows(sql.VISIBLE_SERIES_KEYS):
                counts[row["seriesKey"]] = counts.get(row["seriesKey"], 0) + 1
        return counts

    async def series_aggregates(self) -> list[SeriesAggregate]:
        with unavailable():
            docs = await self._all(sql.of_type(SERIES))
        return [
            SeriesAggregate(
                d["seriesKey"], d["pk"], d.get("numberOfInstances", 0), d.get("modality")
            )
            for d in cast(list[SeriesDocument], docs)
        ]

    async def study_aggregates(self) -> list[StudyAggregate]:
        with unavailable():
            docs = await self._all(sql.of_type(STUDY))
        return [StudyAggregate(d["pk"], counts_of(d)) for d in cast(list[StudyDocument], docs)]

    async def locate_series(self, series_key: str) -> SeriesRef | None:
        with unavailable():
            rows = await self._all(sql.any_with_series(series_key))
        return None if not rows else SeriesRef(_study_of(rows[0]), rows[0]["seriesUID"])

    async def locate_study(self, study_key: str) -> StudyRef | None:
        with unavailable():
            rows = await self._all(sql.any_in_study(study_key), study_key)
        return None if not rows else _study_of(rows[0])

    async def is_empty(self) -> bool:
        with unavailable():
            async for _ in self._rows(sql.ANY, max_item_count=1):
                return False
        return True

    # The change feed --------------------------------------------------------------------------

    async def number_changes(self, partition: str) -> int:
        with unavailable():
            return await self._feed.number(partition)

    async def published_sequence(self, partition: str) -> int:
        with unavailable():
            return await self._feed.watermark(partition)

    async def changes_after(self, partition: str, after: int, limit: int) -> list[Change]:
        async with query_deadline():
            with unavailable():
                return await self._feed.after(partition, after, limit)

    async def changes_between(
        self, partition: str, start: float, end: float, offset: int, limit: int
    ) -> list[Change]:
        async with query_deadline():
            with unavailable():
                return await self._feed.between(partition, start, end, offset, limit)

    async def latest_change(self, partition: str) -> Change | None:
        async with query_deadline():
            with unavailable():
                return await self._feed.latest(partition)


def _study_of(doc: Row) -> StudyRef:
    return StudyRef(doc["partition"], doc["studyUID"])


def open_index(
    config: Settings,
    credential: Any,
    proxies: dict[str, Any],
    request_hook: Callable[[Any], None],
) -> CosmosIndex:
    """The index container of ``config``; ``credential`` when there is no connection string.

    Retries are short, as for blobs (``shared.clients``). The Blob SDK builds its transport
    from the client's options; Cosmos needs one given. ``request_hook`` sees every HTTP request
    sent (``shared.storage.calls``).
    """
    options: dict[str, Any] = {
        "retry_total": 2,
        "retry_backoff_max": 2,
        "retry_connect": 2,
        "connection_timeout": 5,
        "transport": AioHttpTransport(**proxies),
        "raw_request_hook": request_hook,
    }
    if config.cosmos_connection_string:
        client = CosmosClient.from_connection_string(config.cosmos_connection_string, **options)
    else:
        client = CosmosClient(str(config.cosmos_endpoint), credential=credential, **options)
    return CosmosIndex(client, config.cosmos_database, config.cosmos_container)
