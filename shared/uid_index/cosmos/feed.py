"""The change feed on Cosmos DB: numbering rounds, and what readers see.

Entries are written by the index's own changes (``index``); here they get their sequences and are
read. A data partition's numbering state is one document in a Cosmos partition of its own
(``FeedDocument``): the last sequence published (the watermark) and, while a round runs, its
plan. A round:

1. reads the state; a live plan means another round is running, and this one stops there; an
   expired one (its round died) is taken over and finished as planned;
2. finds the oldest entries without a sequence and numbers them after the watermark
   (``changes.number_round``), writing the plan into the state, if it is unchanged (etag);
3. sets each entry's sequence (idempotent: a round taken over sets the same numbers again);
4. publishes the new watermark and clears the plan, if the state is still as it wrote it.

Readers return only entries up to the watermark, which is published after every entry below it
has its number: an entry can never appear below a sequence a reader has already passed. Writers
never touch the state, so stores do not contend on it; rounds run where the feed is read and on
the sweep's timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Iterable
from typing import Any, cast

from azure.cosmos.exceptions import (
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from shared.uid_index.changes import Action, Unnumbered, number_round, state_of
from shared.uid_index.cosmos import sql
from shared.uid_index.cosmos.items import Items, Row
from shared.uid_index.documents import (
    ChangeDocument,
    FeedDocument,
    InstanceDocument,
    change_ref,
    feed_document,
    feed_id,
)
from shared.uid_index.index import LEASE_SECONDS, Change, StoredInstance
from shared.uid_index.keys import InstanceRef
from shared.uid_index.lifecycle import Lifecycle
from shared.uid_index.sidecar import OriginalCopy

ROUND = 500
"""Entries one round numbers at most."""
_MOST_READ = 2**31 - 1
"""The most entries a v2 page reads through (``TOP`` takes a 32-bit count)."""
_CONCURRENCY = 32


async def _bounded(calls: Iterable[Awaitable[Any]]) -> list[Any]:
    semaphore = asyncio.Semaphore(_CONCURRENCY)

    async def one(call: Awaitable[Any]) -> Any:
        async with semaphore:
            return await call

    return await asyncio.gather(*(one(c) for c in calls))


def stored_instance(ref: InstanceRef, doc: InstanceDocument) -> StoredInstance:
    """A visible instance from its whole document or from the row ``sql.visible_instances``
    projects (whose numbers sit at the top level)."""
    q = doc.get("q", {})
    instance_number = doc.get("InstanceNumber", q.get("InstanceNumber"))
    series_number = doc.get("SeriesNumber", q.get("SeriesNumber"))
    return StoredInstance(
        ref,
        str(doc["version"]),
        str(doc["transferSyntaxUID"]),
        int(doc["size"]),
        instance_number if isinstance(instance_number, int) else None,
        series_number if isinstance(series_number, int) else None,
        None
        if doc.get("originalVersion") is None
        else OriginalCopy(str(doc["originalVersion"]), int(doc.get("originalSize") or 0)),
    )


class CosmosChangeFeed(Items):
    """Numbering and reading the change feed entries of one Cosmos DB container."""

    async def _state(self, partition: str) -> FeedDocument | None:
        id_ = feed_id(partition)
        return cast(FeedDocument | None, await self._read(id_, id_))

    async def watermark(self, partition: str) -> int:
        state = await self._state(partition)
        return 0 if state is None else state["watermark"]

    async def _write_state(self, state: FeedDocument, **changes: Any) -> FeedDocument | None:
        """The state with ``changes``, if nobody changed it since it was read; else None."""
        written = await self._replace_unless_changed(cast(Row, state), **changes)
        return cast(FeedDocument | None, written)

    # Numbering --------------------------------------------------------------------------------

    async def number(self, partition: str) -> int:
        state = await self._state(partition)
        if state is None:
            try:
                created = await self.container.create_item(dict(feed_document(partition)))
                state = cast(FeedDocument, created)
            except CosmosResourceExistsError:
                return await self.watermark(partition)
        now = time.time()
        if state["plan"]:
            if state["leaseUntil"] > now:
                return state["watermark"]
            taken = await self._write_state(state, leaseUntil=now + LEASE_SECONDS)
        else:
            rows = await self._all(sql.unnumbered_changes(partition, ROUND))
            if not rows:
                return state["watermark"]
            unnumbered = [
                Unnumbered(r["pk"], r["id"], r["instanceKey"], r["n"], r["timestamp"]) for r in rows
            ]
            plan = [
                (u.study_key, u.entry_id, seq)
                for u, seq in number_round(unnumbered, state["watermark"])
            ]
            taken = await self._write_state(state, plan=plan, leaseUntil=now + LEASE_SECONDS)
        if taken is None:
            return await self.watermark(partition)
        plan = [(str(key), str(id_), int(seq)) for key, id_, seq in taken["plan"]]
        await _bounded(self._set_sequence(key, id_, seq) for key, id_, seq in plan)
        published = await self._write_state(
            taken, watermark=max(seq for _, _, seq in plan), plan=[], leaseUntil=0.0
        )
        return published["watermark"] if published else await self.watermark(partition)

    async def _set_sequence(self, study_key: str, entry_id: str, seq: int) -> None:
        # An entry gone (its container emptied by hand) leaves its number unused, not the feed
        # stuck on a plan that can never be finished.
        with contextlib.suppress(CosmosResourceNotFoundError):
            await self.container.patch_item(
                entry_id,
                partition_key=study_key,
                patch_operations=[{"op": "set", "path": "/seq", "value": seq}],
            )

    # Reading ----------------------------------------------------------------------------------

    async def after(self, partition: str, after: int, limit: int) -> list[Change]:
        upto = min(after + limit, await self.watermark(partition))
        if upto <= after:
            return []
        return await self._changes(await self._all(sql.changes_numbered(partition, after, upto)))

    async def between(
        self, partition: str, start: float, end: float, offset: int, limit: int
    ) -> list[Change]:
        if offset + limit > _MOST_READ:
            return []
        watermark = await self.watermark(partition)
        query = sql.changes_stamped(partition, watermark, start, end, offset + limit)
        return await self._changes((await self._all(query))[offset:])

    async def latest(self, partition: str) -> Change | None:
        watermark = await self.watermark(partition)
        if watermark == 0:
            return None
        rows = await self._all(sql.changes_numbered(partition, watermark - 1, watermark))
        changes = await self._changes(rows)
        return changes[-1] if changes else None

    async def _changes(self, rows: list[Row]) -> list[Change]:
        """The entries with the State their instances give them now (one read per instance)."""
        entries = cast(list[ChangeDocument], rows)
        refs = {e["instanceKey"]: change_ref(e) for e in entries}
        docs = await _bounded(self._read_instance(ref) for ref in refs.values())
        instances = dict(zip(refs, docs, strict=True))
        changes = []
        for entry in entries:
            ref, doc = refs[entry["instanceKey"]], instances[entry["instanceKey"]]
            status = None if doc is None else Lifecycle(doc["status"])
            state = state_of(entry["n"], status, 0 if doc is None else doc.get("changes", 0))
            stored = stored_instance(ref, doc) if doc and status is Lifecycle.CREATED else None
            seq = entry["seq"] or 0
            changes.append(
                Change(seq, ref, Action(entry["action"]), entry["timestamp"], state, stored)
            )
        return changes
