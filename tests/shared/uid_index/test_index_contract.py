"""The index's contract, case by case, race branches included, on every implementation kept.

Each case drives ``shared.uid_index.index.Index`` directly, the way store, delete and the sweep
do, and checks only what the interface promises. The one implementation is the Cosmos DB
adapter, run against the local emulator.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pydicom.uid import generate_uid

from shared.clients import Clients
from shared.services.sweep import sweep
from shared.uid_index.cosmos import index as cosmos_index
from shared.uid_index.documents import IndexRecord
from shared.uid_index.index import (
    ALREADY_EXISTS,
    BEING_CREATED,
    LEASE_SECONDS,
    DeleteScope,
    Index,
    InstanceConflict,
    RefreshMarker,
    refresh_aggregates,
)
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef, doc_id, new_version
from shared.uid_index.lifecycle import Lifecycle
from shared.uid_index.sidecar import OriginalCopy, Sidecar

pytestmark = pytest.mark.integration

PARTITION = "Microsoft.Default"


@pytest.fixture(params=["cosmos"])
async def index(request: pytest.FixtureRequest, storage: Clients) -> AsyncIterator[Index]:
    """Every implementation of the index; each case runs on each."""
    yield storage.index


def fresh_series() -> SeriesRef:
    return SeriesRef(StudyRef(PARTITION, generate_uid()), generate_uid())


def fresh_instance(series: SeriesRef | None = None) -> InstanceRef:
    return InstanceRef(series or fresh_series(), generate_uid())


def record(
    ref: InstanceRef,
    version: str,
    modality: str = "CT",
    numbers: tuple[int, int] | None = None,
    original: OriginalCopy | None = None,
) -> IndexRecord:
    """An instance's record; ``numbers`` are its Series Number and Instance Number, if any;
    ``original``, the copy a bulk update's record names."""
    metadata = {
        "0020000D": {"vr": "UI", "Value": [ref.study.study_uid]},
        "0020000E": {"vr": "UI", "Value": [ref.series.series_uid]},
        "00080018": {"vr": "UI", "Value": [ref.sop_instance_uid]},
        "00080060": {"vr": "CS", "Value": [modality]},
    }
    if numbers is not None:
        metadata["00200011"] = {"vr": "IS", "Value": [numbers[0]]}
        metadata["00200013"] = {"vr": "IS", "Value": [numbers[1]]}
    sidecar = Sidecar(ref, version, "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1", 10,
                      metadata, None, None, (), original=original)  # fmt: skip
    return IndexRecord.from_sidecar(sidecar)


@contextmanager
def clock_behind(seconds: float) -> Iterator[None]:
    """The adapter's clock ``seconds`` in the past: what it writes now has an expired lease."""
    with pytest.MonkeyPatch.context() as patch:
        real = time.time
        patch.setattr(cosmos_index, "time", SimpleNamespace(time=lambda: real() - seconds))
        yield


async def clear_of_the_hosts_sweep() -> None:
    """Wait until the local host's own sweep (each minute, on the minute) is seconds away.

    Cases that leave a lease expired on purpose then act on it before that sweep could.
    """
    second = time.time() % 60
    if not 5 <= second <= 45:
        await asyncio.sleep((65 - second) % 60)


async def delete(index: Index, ref: InstanceRef) -> None:
    """Delete the instance as a delete does: hide each of its entries, then forget it."""
    for entry in await index.in_scope(DeleteScope.of_instance(ref)):
        hidden = await index.hide(entry, time.time() + LEASE_SECONDS)
        assert hidden is not None
        await index.forget(hidden)


async def stored(index: Index, ref: InstanceRef) -> list[str]:
    return [i.version for i in await index.visible(ref)]


async def counts(index: Index, series: SeriesRef) -> tuple[Any, Any]:
    found = await index.parent_counts(PARTITION, [series.study.key], [series.key])
    return found.get(series.study.doc_id), found.get(series.doc_id)


async def test_a_claim_is_invisible_until_committed_and_then_already_exists(index: Index) -> None:
    ref = fresh_instance()
    version = new_version()
    claim = await index.claim(ref, version, upsert=False)
    assert await stored(index, ref) == []
    with pytest.raises(InstanceConflict) as second:
        await index.claim(ref, new_version(), upsert=False)
    assert second.value.reason == BEING_CREATED
    assert await index.commit(claim, record(ref, version)) == []
    assert await stored(index, ref) == [version]
    with pytest.raises(InstanceConflict) as third:
        await index.claim(ref, new_version(), upsert=False)
    assert third.value.reason == ALREADY_EXISTS


async def test_a_new_instance_is_committed_in_one_step_once_and_then_already_exists(
    index: Index,
) -> None:
    ref = fresh_instance()
    version = new_version()
    assert await index.commit_new(record(ref, version))
    assert await stored(index, ref) == [version]
    # Nothing is written for an instance that has an entry: it stays as the first commit left it.
    assert not await index.commit_new(record(ref, new_version()))
    assert await stored(index, ref) == [version]
    with pytest.raises(InstanceConflict) as claiming:
        await index.claim(ref, new_version(), upsert=False)
    assert claiming.value.reason == ALREADY_EXISTS


async def test_one_step_commits_leave_claimed_and_deleted_instances_to_their_claims(
    index: Index,
) -> None:
    pending = fresh_instance()
    version = new_version()
    claim = await index.claim(pending, version, upsert=False)
    assert not await index.commit_new(record(pending, new_version()))
    assert await stored(index, pending) == []
    await index.commit(claim, record(pending, version))
    assert await stored(index, pending) == [version]

    deleted = fresh_instance()
    assert await index.commit_new(record(deleted, new_version()))
    await delete(index, deleted)
    # The tombstone keeps the instance's history, so storing it again goes through a claim.
    assert not await index.commit_new(record(deleted, new_version()))
    assert await stored(index, deleted) == []
    again = new_version()
    await index.commit(await index.claim(deleted, again, upsert=False), record(deleted, again))
    assert await stored(index, deleted) == [again]


async def test_visible_instances_carry_their_series_and_instance_numbers(index: Index) -> None:
    numbered = fresh_instance()
    unnumbered = fresh_instance(numbered.series)
    for ref, numbers in ((numbered, (7, 3)), (unnumbered, None)):
        version = new_version()
        claim = await index.claim(ref, version, upsert=False)
        await index.commit(claim, record(ref, version, numbers=numbers))
    for scope in (numbered.series, numbered.study):
        found = {i.ref: (i.series_number, i.instance_number) for i in await index.visible(scope)}
        assert found == {numbered: (7, 3), unnumbered: (None, None)}
    ((alone,),) = [await index.visible(numbered)]
    assert (alone.series_number, alone.instance_number) == (7, 3)


async def test_an_update_keeps_the_original_and_an_upsert_replaces_both(index: Index) -> None:
    ref = fresh_instance()
    first = new_version()
    await index.commit(await index.claim(ref, first, upsert=False), record(ref, first))
    (current,) = await index.visible(ref)
    original = OriginalCopy(first, 10)
    once = new_version()
    claim = await index.claim_update(current, once)
    assert claim.updating
    # The first update keeps the copy it was made from: nothing is left unreferenced.
    assert await index.commit(claim, record(ref, once, original=original)) == []
    (updated,) = await index.visible(ref)
    assert (updated.version, updated.original) == (once, original)
    assert updated.as_original().version == first
    # A second update names the same original; the first update's copy is left over.
    twice = new_version()
    claim = await index.claim_update(updated, twice)
    assert await index.commit(claim, record(ref, twice, original=original)) == [once]
    ((entry,),) = [[e for e in await index.in_scope(DeleteScope.of_instance(ref))]]
    assert entry.versions == (twice, first)
    # A store that replaces the instance leaves both its copies unreferenced.
    replaced = new_version()
    claim = await index.claim(ref, replaced, upsert=True)
    assert await index.commit(claim, record(ref, replaced)) == [twice, first]
    (now,) = await index.visible(ref)
    assert (now.version, now.original) == (replaced, None)


async def test_an_update_of_a_copy_the_instance_no_longer_has_conflicts(index: Index) -> None:
    ref = fresh_instance()
    first = new_version()
    await index.commit(await index.claim(ref, first, upsert=False), record(ref, first))
    (current,) = await index.visible(ref)
    update = await index.claim_update(current, new_version())
    # A store replaces the instance while the update writes its files: the update loses.
    replaced = new_version()
    await index.commit(await index.claim(ref, replaced, upsert=True), record(ref, replaced))
    with pytest.raises(InstanceConflict) as committing:
        await index.commit(update, record(ref, update.version, original=OriginalCopy(first, 10)))
    assert committing.value.reason == BEING_CREATED
    with pytest.raises(InstanceConflict) as claiming:
        await index.claim_update(current, new_version())
    assert claiming.value.reason == BEING_CREATED
    assert await stored(index, ref) == [replaced]


async def test_a_delete_asked_before_an_update_still_takes_the_instance(index: Index) -> None:
    ref = fresh_instance()
    first = new_version()
    await index.commit(await index.claim(ref, first, upsert=False), record(ref, first))
    asked = new_version()
    (current,) = await index.visible(ref)
    later = new_version()
    claim = await index.claim_update(current, later)
    await index.commit(claim, record(ref, later, original=OriginalCopy(first, 10)))
    taken = await index.in_scope(DeleteScope.of_instance(ref), before=asked)
    assert [e.version for e in taken] == [later]


async def test_a_released_claim_frees_the_instance_at_once(index: Index) -> None:
    ref = fresh_instance()
    claim = await index.claim(ref, new_version(), upsert=False)
    await index.renew(claim)
    await index.release(claim)
    again = await index.claim(ref, new_version(), upsert=False)
    assert again.leftover_version is None


async def test_an_expired_claim_is_taken_over_and_its_store_loses(index: Index) -> None:
    ref = fresh_instance()
    dead_version = new_version()
    await clear_of_the_hosts_sweep()
    with clock_behind(2 * LEASE_SECONDS):
        dead = await index.claim(ref, dead_version, upsert=False)
    version = new_version()
    taken = await index.claim(ref, version, upsert=False)
    assert taken.leftover_version == dead_version
    # The store that held the expired claim can neither renew nor commit it any more.
    with pytest.raises(InstanceConflict) as renewing:
        await index.renew(dead)
    assert renewing.value.reason == BEING_CREATED
    with pytest.raises(InstanceConflict) as committing:
        await index.commit(dead, record(ref, dead_version))
    assert committing.value.reason == BEING_CREATED
    assert await index.commit(taken, record(ref, version)) == [dead_version]
    assert await stored(index, ref) == [version]


async def test_concurrent_upserts_both_commit_and_the_last_one_wins(index: Index) -> None:
    ref = fresh_instance()
    first = new_version()
    claim = await index.claim(ref, first, upsert=False)
    await index.commit(claim, record(ref, first))
    a_version, b_version = new_version(), new_version()
    a = await index.claim(ref, a_version, upsert=True)
    b = await index.claim(ref, b_version, upsert=True)
    assert a.replacing and b.replacing
    # Both hold the same etag; A commits first, so B's conditional commit meets A's write.
    assert await index.commit(a, record(ref, a_version)) == [first]
    assert await stored(index, ref) == [a_version]
    assert await index.commit(b, record(ref, b_version)) == [a_version]
    assert await stored(index, ref) == [b_version]
    # Replacing claims are never released: the committed instance stays visible.
    await index.release(b)
    assert await stored(index, ref) == [b_version]


@pytest.mark.parametrize("processes", [1, 3])
async def test_concurrent_commits_and_refreshes_end_with_exact_counts(
    index: Index, processes: int
) -> None:
    """In one process the refreshes of a study take turns; across processes they meet on the
    etags. Either way the counts end exact."""
    series = fresh_series()
    other = SeriesRef(series.study, generate_uid())
    refs = [fresh_instance(series) for _ in range(6)] + [fresh_instance(other) for _ in range(3)]
    indexes = [index, *(another_process(index) for _ in range(processes - 1))]

    async def store(n: int, ref: InstanceRef) -> None:
        at = indexes[n % processes]
        version = new_version()
        claim = await at.claim(ref, version, upsert=False)
        await at.commit(claim, record(ref, version, "MR" if ref.series == other else "CT"))
        await refresh_aggregates(at, [ref.series])

    await asyncio.gather(*(store(n, r) for n, r in enumerate(refs)))
    study, series_counts = await counts(index, series)
    assert series_counts.number_of_instances == 6
    assert (study.number_of_series, study.number_of_instances) == (2, 9)
    assert study.modalities == ("CT", "MR")


async def test_hidden_instances_leave_reads_and_a_stale_entry_changes_nothing(
    index: Index,
) -> None:
    series = fresh_series()
    refs = [fresh_instance(series) for _ in range(3)]
    for ref in refs:
        version = new_version()
        await index.commit(await index.claim(ref, version, upsert=False), record(ref, version))
    scope = DeleteScope.of_series(series)
    entries = await index.in_scope(scope)
    assert sorted(e.ref.key for e in entries) == sorted(r.key for r in refs)
    assert {e.status for e in entries} == {Lifecycle.CREATED}
    intent = await index.record_intent(scope, time.time() + LEASE_SECONDS)
    assert await index.has_intent(scope)
    hidden = [await index.hide(e, time.time() + LEASE_SECONDS) for e in entries[:2]]
    assert all(h is not None and h.status is Lifecycle.DELETING for h in hidden)
    # The entries as first read are stale now: hiding or forgetting them again does nothing.
    assert await index.hide(entries[0], time.time()) is None
    await index.forget(entries[0])
    assert await index.deleting_count(scope) == 2
    assert len(await index.visible(series)) == 1
    for h in hidden:
        assert h is not None
        await index.forget(h)
    assert await index.deleting_count(scope) == 0
    # An intent carried out later takes only what was stored before it was asked.
    later = fresh_instance(series)
    version = new_version()
    await index.commit(await index.claim(later, version, upsert=False), record(later, version))
    # The one left is whichever was not hidden: ``in_scope`` promises no order.
    assert [e.ref for e in await index.in_scope(scope, before=intent.before)] == [entries[2].ref]
    await index.drop_intent(intent)
    assert not await index.has_intent(scope)


async def test_an_intent_taken_over_is_the_taker_s_alone(index: Index) -> None:
    scope = DeleteScope.of_study(fresh_series().study)
    await clear_of_the_hosts_sweep()
    intent = await index.record_intent(scope, time.time() - 1)
    assert scope in [i.scope for i in await index.expired_intents(time.time())]
    taken = await index.take_over_intent(intent, time.time() + LEASE_SECONDS)
    assert taken is not None
    assert await index.take_over_intent(intent, time.time() + LEASE_SECONDS) is None
    await index.drop_intent(intent)
    assert await index.has_intent(scope)
    await index.drop_intent(taken)
    assert not await index.has_intent(scope)


async def overdue(index: Index, series: SeriesRef) -> list[RefreshMarker]:
    return [m for m in await index.overdue_markers() if m.series == series]


async def swept(storage: Clients) -> None:
    """Clear of the host's sweep, and others' overdue markers swept, so that those a case leaves
    overdue are among the first ``overdue_markers`` returns."""
    await clear_of_the_hosts_sweep()
    await sweep(storage, seconds=30)


async def commit_marking(index: Index, series: SeriesRef, lease_until: float) -> InstanceRef:
    """Store a new instance of ``series`` whose commit carries the series' marker."""
    ref = fresh_instance(series)
    version = new_version()
    claim = await index.claim(ref, version, upsert=False)
    await index.commit(claim, record(ref, version), refresh_marker_lease=lease_until)
    return ref


async def test_a_commit_carrying_a_marker_leaves_it_overdue_once_its_lease_passes(
    storage: Clients,
) -> None:
    index = storage.index
    series = fresh_series()
    await swept(storage)
    ref = await commit_marking(index, series, time.time() + 2)
    assert await stored(index, ref) != []
    assert await overdue(index, series) == []
    await asyncio.sleep(2.5)
    [marker] = await overdue(index, series)
    # A commit without one leaves the marker as it was.
    later = fresh_instance(series)
    version = new_version()
    await index.commit(await index.claim(later, version, upsert=False), record(later, version))
    assert await overdue(index, series) == [marker]
    await index.clear_marker(marker)


async def test_a_one_step_commit_carries_the_marker_only_when_it_lands(storage: Clients) -> None:
    index = storage.index
    series = fresh_series()
    await swept(storage)
    ref = fresh_instance(series)
    version = new_version()
    assert await index.commit_new(record(ref, version), refresh_marker_lease=time.time() - 1)
    [marker] = await overdue(index, series)
    await index.clear_marker(marker)
    assert not await index.commit_new(record(ref, new_version()), refresh_marker_lease=time.time())
    assert await overdue(index, series) == []


async def test_a_commit_that_fails_writes_no_marker(storage: Clients) -> None:
    """A commit whose claim was taken over, and an update of a copy that is no longer the
    instance's: the marker they carry is not written either."""
    index = storage.index
    ref = fresh_instance()
    dead_version = new_version()
    await swept(storage)
    with clock_behind(2 * LEASE_SECONDS):
        dead = await index.claim(ref, dead_version, upsert=False)
    version = new_version()
    taken = await index.claim(ref, version, upsert=False)
    with pytest.raises(InstanceConflict):
        await index.commit(dead, record(ref, dead_version), refresh_marker_lease=time.time() - 1)
    assert await overdue(index, ref.series) == []
    await index.commit(taken, record(ref, version))
    [current] = await index.visible(ref)
    update = await index.claim_update(current, new_version())
    replaced = new_version()
    await index.commit(await index.claim(ref, replaced, upsert=True), record(ref, replaced))
    with pytest.raises(InstanceConflict):
        await index.commit(
            update,
            record(ref, update.version, original=OriginalCopy(version, 10)),
            refresh_marker_lease=time.time() - 1,
        )
    assert await overdue(index, ref.series) == []
    assert await stored(index, ref) == [replaced]


async def test_a_commit_carrying_a_marker_continues_a_lost_history(storage: Clients) -> None:
    """An instance document removed by hand, its feed entries kept: the commit of the instance
    stored again meets its first entry (a conflict on the batch's second operation), goes on
    after the last one, and writes the marker with it."""
    index = storage.index
    series = fresh_series()
    ref = await commit_marking(index, series, time.time() + LEASE_SECONDS)
    await cast(Any, index).container.delete_item(ref.doc_id, partition_key=ref.study.key)
    await swept(storage)
    version = new_version()
    claim = await index.claim(ref, version, upsert=False)
    await index.commit(claim, record(ref, version), refresh_marker_lease=time.time() - 1)
    assert await stored(index, ref) == [version]
    changes = [c for c in await index.all_changes() if c.instance_key == ref.key]
    assert sorted(c.n for c in changes) == [1, 2]
    [marker] = await overdue(index, series)
    await index.clear_marker(marker)


async def test_a_marker_is_cleared_unless_written_again_since_it_was_read(
    storage: Clients,
) -> None:
    index = storage.index
    series = fresh_series()
    await swept(storage)
    await commit_marking(index, series, time.time() - 1)
    [marker] = await overdue(index, series)
    await index.clear_marker(marker)
    assert await overdue(index, series) == []
    await commit_marking(index, series, time.time() - 1)
    [read] = await overdue(index, series)
    await commit_marking(index, series, time.time() - 1)  # A store marks it again meanwhile.
    await index.clear_marker(read)
    [kept] = await overdue(index, series)
    assert kept.etag != read.etag
    await index.clear_marker(kept)


async def test_the_sweep_purges_a_dead_store_s_claim_and_the_store_then_loses(
    storage: Clients,
) -> None:
    index = storage.index
    ref = fresh_instance()
    version = new_version()
    await clear_of_the_hosts_sweep()
    with clock_behind(2 * LEASE_SECONDS):
        claim = await index.claim(ref, version, upsert=False)
    await storage.blobs.put(ref.file_blob(version), b"file", "application/dicom")
    await storage.blobs.put(ref.sidecar_blob(version), b"{}", "application/json")
    summary = await sweep(storage, seconds=30)
    assert summary.claims_released >= 1
    assert await storage.blobs.get(ref.file_blob(version)) is None
    with pytest.raises(InstanceConflict) as committing:
        await index.commit(claim, record(ref, version))
    assert committing.value.reason == BEING_CREATED
    assert await stored(index, ref) == []
    assert doc_id("instance", ref.key) not in {e.ref.doc_id for e in await index.all_entries()}


def another_process(index: Any) -> Any:
    """The same container as another process sees it: refreshes there do not wait for this
    process's (``shared.uid_index.cosmos.refreshes``), they meet it on the etags."""
    return cosmos_index.CosmosIndex(index.client, index.database, index._container_name)


async def test_a_refresh_that_read_before_a_later_commit_never_overwrites_its_count(
    storage: Clients,
) -> None:
    """The aggregate race, made to happen: refresh R1 counts, a store in another process
    commits and refreshes (R2), then R1 writes. R1's write is conditional on what it read before
    counting, so it fails and R1 counts again: the series ends with both instances, not R1's
    stale count."""
    index = storage.index
    other = another_process(index)
    series = fresh_series()
    first, second = fresh_instance(series), fresh_instance(series)
    version = new_version()
    await index.commit(await index.claim(first, version, upsert=False), record(first, version))
    await index.refresh(series.study, [series])
    counted, resume = asyncio.Event(), asyncio.Event()
    real_all = index._all

    async def all_pausing_once(query: Any, key: str | None = None) -> list[Any]:
        rows = await real_all(query, key)
        if "COUNT(1)" in query.text and not counted.is_set():
            counted.set()
            await resume.wait()
        return rows

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(index, "_all", all_pausing_once)
        r1 = asyncio.create_task(index.refresh(series.study, [series]))
        await counted.wait()
        version = new_version()
        await other.commit(
            await other.claim(second, version, upsert=False), record(second, version)
        )
        await other.refresh(series.study, [series])
        resume.set()
        await r1
    _, series_counts = await counts(index, series)
    assert series_counts.number_of_instances == 2


async def _store(index: Index, ref: InstanceRef) -> None:
    version = new_version()
    await index.commit(await index.claim(ref, version, upsert=False), record(ref, version))


async def test_a_refresh_started_from_aggregates_read_before_its_commit_ends_exact(
    index: Index,
) -> None:
    series = fresh_series()
    first, second, third = (fresh_instance(series) for _ in range(3))
    await _store(index, first)
    await index.refresh(series.study, [series])
    read = await index.read_aggregates(series.study)  # as a store reads while it commits
    await _store(index, second)
    await index.refresh(series.study, [series], read)
    _, series_counts = await counts(index, series)
    assert series_counts.number_of_instances == 2
    # A read gone stale (another refresh wrote since) costs a retry, never a wrong count.
    stale = await index.read_aggregates(series.study)
    await _store(index, third)
    await index.refresh(series.study, [series])
    fourth = fresh_instance(series)
    await _store(index, fourth)
    await index.refresh(series.study, [series], stale)
    study, series_counts = await counts(index, series)
    assert series_counts.number_of_instances == study.number_of_instances == 4


async def test_a_refresh_finding_nothing_to_write_on_a_stale_read_reads_again(
    index: Index,
) -> None:
    """The aggregates read ahead say one instance; another refresh has written two since; one of
    the two is hidden, so the instances count one again. Judged on the read ahead there would be
    nothing to write, and the series would stay counted two."""
    series = fresh_series()
    kept, hidden = fresh_instance(series), fresh_instance(series)
    await _store(index, kept)
    await index.refresh(series.study, [series])
    read = await index.read_aggregates(series.study)
    await _store(index, hidden)
    await index.refresh(series.study, [series])
    [entry] = [e for e in await index.in_scope(DeleteScope.of_series(series)) if e.ref == hidden]
    assert await index.hide(entry, time.time() + LEASE_SECONDS) is not None
    await index.refresh(series.study, [series], read)
    study, series_counts = await counts(index, series)
    assert series_counts.number_of_instances == study.number_of_instances == 1


async def test_a_partition_is_recorded_once_and_keeps_its_first_time(index: Index) -> None:
    name = f"contract-{uuid.uuid4().hex[:8]}"
    await asyncio.gather(*(index.record_partition(name, 1000.0 + n) for n in range(5)))
    await index.record_partition(name, 1.0)
    [found] = [p for p in await index.partitions() if p.name == name]
    assert 1000.0 <= found.created <= 1004.0
