"""The index in the service's own terms: what store, retrieve, search, delete and sweep ask of it.

Services speak only this interface; ``shared.uid_index.cosmos`` is the one implementation, and the
only code that knows Cosmos DB. Every operation names studies, series and instances by their refs
(``keys``), so no service builds a document, a query or a condition.

An instance entry moves through this lifecycle (``lifecycle.Lifecycle``)::

    (absent) --claim--> PENDING --commit--> CREATED --hide--> DELETING --purge--> PURGED
    (absent) --commit_new--> CREATED (a store whose files went in one upload each)
                PENDING --release, or lease expired and swept--> (absent), or PURGED again
                PENDING --lease expired, claimed again--> PENDING (taken over)
                CREATED --claim with upsert, then commit--> CREATED (replaced, stays visible)
                CREATED --claim to update, then commit--> CREATED (updated, original kept)
                PURGED --claim--> PENDING (stored again)

Each commit and each hide of a ``created`` entry (the moment a delete takes effect) writes the
instance's next change feed entry in the same transaction (``changes``): an entry exists exactly
when its change does. A purged instance is kept as a tombstone, its history and nothing else, so
that the entries of an instance deleted and stored again go on in order.

A store goes through three steps (``shared.services.store``, ``store_protocol``):

1. **claim**: a ``pending`` entry reserves the SOP Instance UID (create-if-absent). A second
   store of the same instance meanwhile gets 45071; once the instance is ``created`` it gets
   45070. A claim carries a lease; a store that dies leaves a claim whose lease runs out, and the
   next store of that instance takes it over (its leftover blobs are named in the claim).
2. **files**: the DICOM file and its sidecar are written to blob storage under a new version.
   A file that fits one upload is sent before any claim (below); a larger file sends the
   claim and waits for it before its first block. A store refused at its claim deletes what it
   wrote; one that dies before its claim lands leaves files no entry names, which verification
   finds (and, as a rebuild would, indexes when they are complete: the retry of such a store
   is told 45070, as for one that died after its commit).
3. **commit**: once both are done, the claim becomes ``created`` (conditional on its etag),
   pointing at the version. A request's first commit into a series, and the next one whenever
   the marker it wrote is close to running out, carries the series' refresh-due marker in the
   same transaction (``refresh_due``): should the request die before it refreshes the series'
   aggregates, the sweep does once the marker's lease has run out, after every commit that
   relied on it.

A store whose files each went in one upload, and that neither replaces nor updates, skips the
claim: once its files are written it creates the entry as ``created`` outright
(``commit_new``), create-if-absent, in the one transaction a commit would have written. That
saves the claim's call, about a third of the index calls of a small instance's store. When the
instance has an entry of any kind (stored, being stored, deleted), nothing is written and the
store claims under the same version, whose files are already in place, then commits as above;
a second store of the same instance meanwhile therefore hears 45070 once the first committed,
not 45071. A claim holds a store's place while its files are written; for files this small it
would go out at the same moment as they do, so it would hold nothing back. A store that dies
before ``commit_new`` leaves files no entry names, as one that dies before its claim lands
does.

Readers only ever see ``created`` entries, whose files were written before the entry said so, so
no reader sees an index entry without its file. Every change is conditional on the entry being
as it was last read (``etag``), so a concurrent writer's change always wins over a stale one.
Series and study aggregates (instance counts, modalities) are recomputed from their children,
never incremented: each refresh reads the aggregates' etags, then the children, then writes the
series' aggregates and their study's in one batch, only if the etags are unchanged. Whoever
writes last has read after every commit that preceded it, so concurrent stores into one study
end with exact counts, and a retried refresh is harmless. The etags need only be read before the
children, so a store reads them while its first commit into the study is in flight
(``read_aggregates``), and a refresh starts from that read. Series attributes come from the newest
instance of the series and study attributes from the newest series, so the result does not
depend on the order in which stores land.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Protocol

from shared.dicom.query import SearchQuery
from shared.storage.errors import StorageUnavailable
from shared.uid_index.changes import Action, History, State
from shared.uid_index.documents import IndexRecord
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef
from shared.uid_index.lifecycle import Lifecycle
from shared.uid_index.sidecar import OriginalCopy
from shared.uid_index.tag_index import TagIndex

LEASE_SECONDS = 30.0
"""How long a claim, a hide or a refresh-due marker holds before the sweep may take it over."""

ALREADY_EXISTS = 45070
BEING_CREATED = 45071

JsonDict = dict[str, Any]
Progress = Callable[[str, int, int], None]


class IndexUnavailable(StorageUnavailable):
    """The index did not answer (outage, throttling, a query past its deadline): retry later."""


class InstanceConflict(Exception):
    """The instance cannot be stored now; ``reason`` is the DICOM failure reason to report."""

    def __init__(self, reason: int) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Claim:
    """A store's hold on one instance between claim and commit."""

    ref: InstanceRef
    version: str
    etag: str
    replacing: bool = False
    """True when an upsert holds a ``created`` instance that stays visible until commit."""
    leftover_version: str | None = None
    """The version of a dead store's or a replaced copy's files, to delete after commit."""
    history: History = field(default_factory=History)
    """The instance's change feed history as the claim found it, which the commit continues."""
    updating: bool = False
    """A bulk update's claim: the commit records an ``update`` and keeps the original copy."""
    original_version: str | None = None
    """The version of the copy the instance was first stored as, when it was updated before:
    kept by an update, deleted by an upsert that replaces the instance."""


@dataclass(frozen=True)
class StoredInstance:
    """One visible instance: where its current file and sidecar are."""

    ref: InstanceRef
    version: str
    transfer_syntax_uid: str
    size: int
    instance_number: int | None = None
    """InstanceNumber, when the instance has a whole one: the order a viewer shows a series in."""
    series_number: int | None = None
    """SeriesNumber, when the instance's series has a whole one: how a reader knows the series."""
    original: OriginalCopy | None = None
    """The copy as first stored, when a bulk update changed the instance since."""

    def as_original(self) -> StoredInstance:
        """The instance as first stored (``msdicom-request-original``): itself if never updated."""
        if self.original is None:
            return self
        return replace(self, version=self.original.version, size=self.original.size, original=None)

    @property
    def file_blob(self) -> str:
        return self.ref.file_blob(self.version)

    @property
    def sidecar_blob(self) -> str:
        return self.ref.sidecar_blob(self.version)


@dataclass(frozen=True)
class InstanceEntry:
    """An instance entry in any state, as last read: what delete, sweep and verify act on."""

    ref: InstanceRef
    status: Lifecycle
    version: str
    lease_until: float
    etag: str
    read_as: Any = field(default=None, compare=False, repr=False)
    """The implementation's copy of what was read, so a conditional rewrite needs no re-read."""
    history: History = field(default_factory=History)
    """The instance's change feed history, as read."""
    original_version: str | None = None
    """The version of the copy as first stored, kept beside an updated one."""

    @property
    def versions(self) -> tuple[str, ...]:
        """Every stored copy the entry refers to: its current one, and its original if kept."""
        if self.original_version is None:
            return (self.version,)
        return (self.version, self.original_version)


@dataclass(frozen=True)
class ChangeRecord:
    """A change feed entry as verify compares it with its instance."""

    entry_id: str
    partition: str
    instance_key: str
    n: int
    action: Action
    version: str
    sequence: int | None
    """None until a round numbers it."""


_KEY = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class DeleteScope:
    """The instances one DELETE is about, named by digests only.

    Digests are all a look-up needs, and they carry no patient data, so a scope can be handed to
    the client as an operation id and read back from it.
    """

    study_key: str
    series_key: str | None = None
    instance_key: str | None = None

    @classmethod
    def of_study(cls, study: StudyRef) -> DeleteScope:
        return cls(study.key)

    @classmethod
    def of_series(cls, series: SeriesRef) -> DeleteScope:
        return cls(series.study.key, series.key)

    @classmethod
    def of_instance(cls, ref: InstanceRef) -> DeleteScope:
        return cls(ref.study.key, ref.series.key, ref.key)

    @property
    def operation_id(self) -> str:
        keys = (self.study_key, self.series_key, self.instance_key)
        return "-".join(k for k in keys if k is not None)

    @classmethod
    def from_operation_id(cls, value: str) -> DeleteScope | None:
        """The scope an operation id names; None for anything this service did not hand out."""
        keys = value.split("-")
        if not 1 <= len(keys) <= 3 or not all(_KEY.match(k) for k in keys):
            return None
        return cls(*keys)


@dataclass(frozen=True)
class DeleteIntent:
    """A recorded DELETE: its scope, and the moment it was asked (a version id)."""

    scope: DeleteScope
    before: str
    """Only instances stored before this version are the intent's; later stores are kept."""
    lease_until: float
    etag: str
    read_as: Any = field(default=None, compare=False, repr=False)
    """The implementation's copy of what was read, so a conditional rewrite needs no re-read."""


class RefreshMarker(NamedTuple):
    """A series whose aggregates may lag its committed instances (see ``refresh_due``), with
    the etag its marker was read at."""

    series: SeriesRef
    etag: str


@dataclass(frozen=True)
class AggregatesRead:
    """A study's aggregates as read at one moment (``Index.read_aggregates``), with the versions
    a refresh's write is conditional on; what ``state`` holds is the adapter's own."""

    study: StudyRef
    state: object


@dataclass(frozen=True)
class Counts:
    """The aggregates search shows for a study or series (series count is 0 for a series)."""

    number_of_series: int
    number_of_instances: int
    modalities: tuple[str, ...]


@dataclass(frozen=True)
class SearchHit:
    """One search match: its UIDs, digests, the stored DICOM JSON of its level and parents, and
    its own counts when it is a study or series."""

    study_uid: str
    series_uid: str | None
    sop_uid: str | None
    study_key: str
    series_key: str | None
    json: JsonDict
    counts: Counts | None


@dataclass(frozen=True)
class SeriesAggregate:
    """A series' stored aggregate, as verify compares it with a recount."""

    series_key: str
    study_key: str
    number_of_instances: int
    modality: str | None


@dataclass(frozen=True)
class StudyAggregate:
    """A study's stored aggregate, as verify compares it with its series."""

    study_key: str
    counts: Counts


@dataclass(frozen=True)
class Change:
    """A change feed entry as a reader sees it, with the State its instance gives it now."""

    sequence: int
    ref: InstanceRef
    action: Action
    timestamp: float
    state: State
    stored: StoredInstance | None
    """The instance as stored now, whenever it is (current or replaced): where its metadata is."""


@dataclass(frozen=True)
class DataPartition:
    """A data partition: its name and when its first store recorded it (seconds since epoch)."""

    name: str
    created: float


class Index(TagIndex, Protocol):
    """What the services ask of the index. Raises ``IndexUnavailable`` when it cannot answer."""

    # Store: claim, renew, commit, release.
    async def claim(self, ref: InstanceRef, version: str, *, upsert: bool) -> Claim:
        """Reserve ``ref`` for a store of ``version``, or raise InstanceConflict."""

    async def renew(self, claim: Claim) -> None:
        """Extend a pending claim's lease; InstanceConflict if it was taken over."""

    async def claim_update(self, current: StoredInstance, version: str) -> Claim:
        """Hold a visible instance for a bulk update's copy ``version`` of ``current``; raise
        InstanceConflict(BEING_CREATED) unless ``current`` is still its copy."""

    async def commit(
        self, claim: Claim, record: IndexRecord, *, refresh_marker_lease: float | None = None
    ) -> list[str]:
        """Make the record visible; the versions whose files are now unreferenced.

        With ``refresh_marker_lease``, the series' refresh-due marker is written (or extended)
        with that lease in the same transaction (``refresh_due``): it lands exactly when the
        commit does, and not when the commit fails.
        """

    async def commit_new(
        self, record: IndexRecord, *, refresh_marker_lease: float | None = None
    ) -> bool:
        """Make the record of an instance the index has no entry for visible with no claim
        (create-if-absent, with its first change feed entry, and the marker as ``commit``
        writes it); False, with nothing written, when the instance has an entry of any kind."""

    async def release(self, claim: Claim) -> None:
        """Give up a pending claim, only if it is still ours unchanged."""

    async def put_committed(self, record: IndexRecord) -> None:
        """Write the record as committed whatever is there (rebuild and repair from storage)."""

    async def record_partition(self, name: str, created: float) -> None:
        """Record a data partition at its first store; a partition already recorded is kept."""

    async def partitions(self) -> list[DataPartition]:
        """Every recorded data partition, oldest first."""

    # Retrieve and search.
    async def visible(self, scope: StudyRef | SeriesRef | InstanceRef) -> list[StoredInstance]:
        """The visible instances of a study, series or instance, in a stable order."""

    async def search(self, query: SearchQuery, partition: str) -> list[SearchHit]:
        """The first ``page_size(query)`` matches of ``query``, in a stable order."""

    async def parent_counts(
        self, partition: str, study_keys: Iterable[str], series_keys: Iterable[str]
    ) -> dict[str, Counts]:
        """The counts of the named studies and series, by their ``doc_id``."""

    # Aggregates and the refresh-due markers (written by ``commit``).
    async def read_aggregates(self, study: StudyRef) -> AggregatesRead:
        """The study's aggregates as they are now, for a later ``refresh`` to start from."""

    async def refresh(
        self, study: StudyRef, series: Iterable[SeriesRef], read: AggregatesRead | None = None
    ) -> None:
        """Recompute the named series' aggregates from their visible instances, and the study's
        from its series' aggregates, in one write.

        With ``read`` (of this study), the first attempt starts from it instead of reading the
        aggregates itself. A refresh needs its aggregates read only before the instances it
        counts, so a read made at any moment before this call is as good (one sent while the
        commits it follows are in flight takes a round trip off the store); one gone stale costs
        a retry.
        """

    async def overdue_markers(self) -> list[RefreshMarker]:
        """Some markers whose lease ran out, across all studies."""

    async def clear_marker(self, marker: RefreshMarker) -> None:
        """Delete a marker unless it was written again since it was read."""

    # Delete and sweep.
    async def in_scope(self, scope: DeleteScope, before: str | None = None) -> list[InstanceEntry]:
        """Created and deleting entries of ``scope``; created ones only if older than ``before``."""

    async def hide(self, entry: InstanceEntry, lease_until: float) -> InstanceEntry | None:
        """Mark an entry ``deleting``; None if someone changed it since it was read."""

    async def forget(self, entry: InstanceEntry) -> None:
        """Delete an entry unless someone changed it since it was read."""

    async def record_intent(self, scope: DeleteScope, lease_until: float) -> DeleteIntent:
        """Record (or renew) the delete intent of ``scope``, asked now."""

    async def take_over_intent(
        self, intent: DeleteIntent, lease_until: float
    ) -> DeleteIntent | None:
        """Extend an intent's lease; None if someone changed it since it was read."""

    async def drop_intent(self, intent: DeleteIntent) -> None:
        """Delete an intent unless someone changed it since it was read."""

    async def has_intent(self, scope: DeleteScope) -> bool:
        """Whether a delete intent of ``scope`` is recorded."""

    async def deleting_count(self, scope: DeleteScope) -> int:
        """How many entries of ``scope`` are hidden and not yet purged."""

    async def expired_intents(self, now: float) -> list[DeleteIntent]:
        """Intents whose lease ran out before ``now``."""

    async def expired_entries(self, now: float, limit: int) -> list[InstanceEntry]:
        """Up to ``limit`` pending or deleting entries whose lease ran out before ``now``."""

    # Verify and rebuild.
    async def all_entries(self) -> list[InstanceEntry]:
        """Every instance entry, in any state but purged."""

    async def all_changes(self) -> list[ChangeRecord]:
        """Every change feed entry, of every data partition."""

    async def record_current(self, entry: InstanceEntry) -> None:
        """Write the ``create`` entry of a created instance's current copy, unless the entry
        changed since it was read (repair of an instance the feed lacks)."""

    async def visible_counts(self) -> dict[str, int]:
        """Visible instances per series, by series key."""

    async def series_aggregates(self) -> list[SeriesAggregate]:
        """Every stored series aggregate."""

    async def study_aggregates(self) -> list[StudyAggregate]:
        """Every stored study aggregate."""

    async def locate_series(self, series_key: str) -> SeriesRef | None:
        """The series with this digest, from any of its entries or its aggregate."""

    async def locate_study(self, study_key: str) -> StudyRef | None:
        """The study with this digest, from any of its entries or its aggregate."""

    async def is_empty(self) -> bool:
        """Whether the index holds nothing at all (a fresh emulator)."""

    # The change feed, per data partition.
    async def number_changes(self, partition: str) -> int:
        """Number the entries committed since the last round (one round at most); the last
        sequence readers may see."""

    async def published_sequence(self, partition: str) -> int:
        """The last sequence readers may see now (0 before any entry is numbered)."""

    async def changes_after(self, partition: str, after: int, limit: int) -> list[Change]:
        """Readable entries with sequences from ``after + 1`` to ``after + limit``, in order."""

    async def changes_between(
        self, partition: str, start: float, end: float, offset: int, limit: int
    ) -> list[Change]:
        """Readable entries time-stamped in ``[start, end)``, in sequence order, from the
        ``offset``-th on, at most ``limit``."""

    async def latest_change(self, partition: str) -> Change | None:
        """The readable entry with the highest sequence."""


_REFRESH_CONCURRENCY = 16
SERIES_PER_REFRESH = 50
"""Series refreshed in one write with their study (a transactional batch holds 100 at most)."""


async def refresh_aggregates(
    index: Index,
    series: Iterable[SeriesRef],
    progress: Progress | None = None,
    read_ahead: Mapping[str, AggregatesRead] | None = None,
) -> None:
    """Recompute the given series' aggregates and their studies', a study at a time.

    Every caller that makes aggregates catch up (store, delete, the sweep, rebuild, repair) goes
    through here. ``read_ahead``: studies' aggregates read earlier, by study key, each the start
    of its study's first refresh (``Index.refresh``).
    """
    unused = dict(read_ahead or {})
    by_study: dict[str, list[SeriesRef]] = {}
    for member in {s.key: s for s in series}.values():
        by_study.setdefault(member.study.key, []).append(member)
    groups = [
        members[start : start + SERIES_PER_REFRESH]
        for members in by_study.values()
        for start in range(0, len(members), SERIES_PER_REFRESH)
    ]
    semaphore = asyncio.Semaphore(_REFRESH_CONCURRENCY)
    total = {"series": sum(len(g) for g in groups), "studies": len(by_study)}
    done = {"series": 0, "studies": 0}
    left = {key: len(members) for key, members in by_study.items()}

    async def one(group: list[SeriesRef]) -> None:
        study = group[0].study
        async with semaphore:
            await index.refresh(study, group, unused.pop(study.key, None))
        done["series"] += len(group)
        left[study.key] -= len(group)
        done["studies"] += left[study.key] == 0
        if progress:
            progress("series", done["series"], total["series"])
            if left[study.key] == 0:
                progress("studies", done["studies"], total["studies"])

    await asyncio.gather(*(one(group) for group in groups))


async def number_all(index: Index, partition: str, deadline: float | None = None) -> int:
    """Number the partition's new change feed entries round after round, until none is left or
    ``time.monotonic()`` passes ``deadline``; how many were numbered."""
    first = await index.published_sequence(partition)
    watermark = await index.number_changes(partition)
    while deadline is None or time.monotonic() < deadline:
        numbered = await index.number_changes(partition)
        if numbered == watermark:
            break
        watermark = numbered
    return watermark - first
