"""The change feed's part of the index contract, on the Cosmos DB emulator.

Each case drives ``shared.uid_index.index.Index`` as store, delete, the sweep and the feed's
readers do, and checks what the interface promises: one entry per committed change, written with
it or not at all; sequences that a reader polling with the last one it saw never skips; the
State of every entry following its instance.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from types import SimpleNamespace

import pytest
from pydicom.uid import generate_uid

from shared.clients import Clients
from shared.uid_index.changes import Action, State
from shared.uid_index.cosmos import feed as cosmos_feed
from shared.uid_index.index import (
    LEASE_SECONDS,
    Change,
    Index,
    InstanceConflict,
    number_all,
)
from shared.uid_index.keys import InstanceRef, new_version
from tests.shared.uid_index.test_index_contract import PARTITION, delete, fresh_instance, record

pytestmark = pytest.mark.integration


@pytest.fixture
async def index(storage: Clients) -> Index:
    return storage.index


async def store(index: Index, ref: InstanceRef, *, upsert: bool = False) -> str:
    version = new_version()
    claim = await index.claim(ref, version, upsert=upsert)
    await index.commit(claim, record(ref, version))
    return version


async def everything(index: Index) -> list[Change]:
    """The whole readable feed, read as a poller does, after numbering what is there."""
    await number_all(index, PARTITION)
    seen: list[Change] = []
    while page := await index.changes_after(PARTITION, seen[-1].sequence if seen else 0, 100):
        seen += page
    return seen


def of(changes: list[Change], *refs: InstanceRef) -> list[tuple[str, Action, State]]:
    keys = {r.key: i for i, r in enumerate(refs)}
    return [(f"i{keys[c.ref.key]}", c.action, c.state) for c in changes if c.ref.key in keys]


async def test_store_replace_delete_and_store_again_each_make_one_entry(index: Index) -> None:
    ref = fresh_instance()
    await store(index, ref)
    await store(index, ref, upsert=True)
    await delete(index, ref)
    assert of(await everything(index), ref) == [
        ("i0", Action.CREATE, State.DELETED),
        ("i0", Action.CREATE, State.DELETED),
        ("i0", Action.DELETE, State.DELETED),
    ]
    version = await store(index, ref)
    changes = [c for c in await everything(index) if c.ref.key == ref.key]
    assert [(c.action, c.state) for c in changes] == [
        (Action.CREATE, State.REPLACED),
        (Action.CREATE, State.REPLACED),
        (Action.DELETE, State.REPLACED),
        (Action.CREATE, State.CURRENT),
    ]
    assert [c.stored.version if c.stored else None for c in changes] == [version] * 4
    sequences = [c.sequence for c in changes]
    assert sequences == sorted(sequences) and len(set(sequences)) == 4
    timestamps = [c.timestamp for c in changes]
    assert timestamps == sorted(timestamps)


async def test_a_one_step_commit_makes_the_first_entry_and_one_refused_makes_none(
    index: Index,
) -> None:
    ref = fresh_instance()
    version = new_version()
    assert await index.commit_new(record(ref, version))
    assert not await index.commit_new(record(ref, new_version()))
    await store(index, ref, upsert=True)
    changes = [c for c in await everything(index) if c.ref.key == ref.key]
    assert [(c.action, c.state) for c in changes] == [
        (Action.CREATE, State.REPLACED),
        (Action.CREATE, State.CURRENT),
    ]


async def test_a_commit_that_fails_leaves_no_entry(index: Index) -> None:
    ref = fresh_instance()
    version = new_version()
    claim = await index.claim(ref, version, upsert=False)
    claim.etag = '"stale"'
    with pytest.raises(InstanceConflict):
        await index.commit(claim, record(ref, version))
    assert of(await everything(index), ref) == []


async def test_a_release_after_a_delete_keeps_the_history(index: Index) -> None:
    ref = fresh_instance()
    await store(index, ref)
    await delete(index, ref)
    claim = await index.claim(ref, new_version(), upsert=False)
    await index.release(claim)
    await store(index, ref)
    assert [s for _, _, s in of(await everything(index), ref)] == [
        State.REPLACED,
        State.REPLACED,
        State.CURRENT,
    ]


async def test_a_round_that_died_is_finished_as_planned(
    index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    await index.number_changes(PARTITION)
    refs = [fresh_instance() for _ in range(3)]
    for ref in refs:
        await store(index, ref)

    async def dies(*args: object) -> None:
        raise RuntimeError("host killed")

    monkeypatch.setattr(cosmos_feed.CosmosChangeFeed, "_set_sequence", dies)
    with pytest.raises(RuntimeError):
        await index.number_changes(PARTITION)
    monkeypatch.undo()
    latest = await index.latest_change(PARTITION)
    # The planned entries stay unreadable while the dead round's lease runs.
    assert latest is None or latest.ref.key not in {r.key for r in refs}
    real = time.time
    monkeypatch.setattr(
        cosmos_feed, "time", SimpleNamespace(time=lambda: real() + LEASE_SECONDS + 1)
    )
    await index.number_changes(PARTITION)
    monkeypatch.undo()
    assert [a for _, a, _ in of(await everything(index), *refs)] == [Action.CREATE] * 3


async def test_a_poller_sees_every_entry_once_while_stores_commit_concurrently(
    index: Index,
) -> None:
    await index.number_changes(PARTITION)
    start = (await index.latest_change(PARTITION) or SimpleNamespace(sequence=0)).sequence
    refs = [fresh_instance() for _ in range(40)]
    done = asyncio.Event()
    seen: list[Change] = []

    async def poll() -> None:
        last = start
        while True:
            finished = done.is_set()
            await index.number_changes(PARTITION)
            page = await index.changes_after(PARTITION, last, 7)
            if page:
                assert [c.sequence for c in page] == list(range(last + 1, last + 1 + len(page)))
                seen.extend(page)
                last = page[-1].sequence
            elif finished:
                return

    async def writer(mine: list[InstanceRef]) -> None:
        for ref in mine:
            await store(index, ref)
            await store(index, ref, upsert=True)

    poller = asyncio.create_task(poll())
    await asyncio.gather(*(writer(refs[i::8]) for i in range(8)))
    done.set()
    await poller
    mine = [c for c in seen if c.ref.key in {r.key for r in refs}]
    assert len(mine) == 2 * len(refs)
    for ref in refs:
        own = [c for c in mine if c.ref.key == ref.key]
        assert [c.state for c in own] == [State.REPLACED, State.CURRENT]
        assert own[0].sequence < own[1].sequence


async def test_numbering_counts_what_it_numbered(index: Index) -> None:
    partition = f"numbering-{uuid.uuid4().hex[:8]}"
    refs = [
        InstanceRef.of(partition, generate_uid(), generate_uid(), generate_uid()) for _ in "abc"
    ]
    for ref in refs:
        await store(index, ref)
    assert await index.published_sequence(partition) == 0
    assert await number_all(index, partition) == 3
    assert await number_all(index, partition) == 0
    assert await index.published_sequence(partition) == 3
