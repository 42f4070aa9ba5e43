"""Group commit: the transactional batches of one partition that queue up behind those in
flight go together, as one batch, in the next request.

Every commit of a store is a transactional batch in its study's partition (the instance's
document and its change feed entry). The parts of one request are stored several at a time, and
a study is often stored by several requests at once, so commits into one partition come close
together; each request to the index costs the host about as much CPU as the rest of a small
instance's store. So while ``IN_FLIGHT`` batches of a partition are in flight, the next ones
wait and are then sent as one: with little in flight a batch goes at once, under load the calls
per commit fall. Claims, single creates, go the same way.

A grouped batch is still all or nothing, so one member's failure (its etag no longer matches, an
entry exists) fails the others too: the member whose operation failed gets its error, as if it
had been sent alone (the operation's index counted within its own operations), and the others
are sent again. An error of the request as a whole (a timeout, storage unavailable) reaches
every member, each of which may then have landed, as a batch sent alone may have.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError

Operation = tuple[Any, ...]
Result = dict[str, Any]

IN_FLIGHT = 2
"""Batches of one partition in flight at once; more wait, and go together once one returns."""

MAX_OPERATIONS = 48
"""Operations in one grouped batch: well under Cosmos DB's 100 per batch, and its 2 MB body for
index documents of a few kilobytes. A member alone may have more."""
_TOO_LARGE = 413


@dataclass
class _Member:
    operations: Sequence[Operation]
    result: asyncio.Future[list[Result]]
    alone: bool = False
    """Sent by itself from now on: its group was too large to send."""
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    """The caller's: a group's request is sent in its first member's, so that it counts among
    the storage calls of a request still waiting for it (``shared.storage.calls``)."""


@dataclass
class _Partition:
    queued: list[_Member] = field(default_factory=list)
    sending: int = 0
    """Senders running: counted as they start and end, with no await in between, so that a
    batch queued is always one a running sender will take."""
    senders: set[asyncio.Task[None]] = field(default_factory=set)
    """The senders' tasks, kept from garbage collection while they run."""


class GroupedBatches:
    """Transactional batches of a container, grouped per partition while one is in flight."""

    def __init__(self, container: ContainerProxy) -> None:
        self._container = container
        self._partitions: dict[str, _Partition] = {}

    async def execute(self, operations: Sequence[Operation], partition_key: str) -> list[Result]:
        """The results of ``operations`` run as one transactional batch in ``partition_key``, as
        ``ContainerProxy.execute_item_batch`` gives them and raises its errors."""
        member = _Member(operations, asyncio.get_running_loop().create_future())
        partition = self._partitions.setdefault(partition_key, _Partition())
        partition.queued.append(member)
        if partition.sending < IN_FLIGHT:
            partition.sending += 1
            sender = asyncio.ensure_future(self._send_queued(partition_key, partition))
            partition.senders.add(sender)
            sender.add_done_callback(partition.senders.discard)
        return await member.result

    async def _send_queued(self, key: str, partition: _Partition) -> None:
        """Send the partition's queued batches, a group at a time, until none is left (one of
        at most ``IN_FLIGHT`` such senders of the partition)."""
        try:
            while partition.queued:
                group = _next_group(partition)
                if group:
                    await self._send(key, group, partition)
        finally:
            partition.sending -= 1
            # The last sender of a partition with nothing queued lets it go.
            idle = not partition.queued and partition.sending == 0
            if idle and self._partitions.get(key) is partition:
                del self._partitions[key]

    async def _batch(self, operations: list[Operation], key: str) -> list[Result]:
        return list(await self._container.execute_item_batch(operations, partition_key=key))

    async def _send(self, key: str, group: list[_Member], partition: _Partition) -> None:
        try:
            await self._send_group(key, group, partition)
        except BaseException as exc:
            # Nothing a member waits for may be left unsettled, whatever went wrong here.
            for member in group:
                if member not in partition.queued:
                    _settle(member, exc)
            raise

    async def _send_group(self, key: str, group: list[_Member], partition: _Partition) -> None:
        operations = [op for member in group for op in member.operations]
        try:
            sent = self._batch(operations, key)
            results = await asyncio.create_task(sent, context=group[0].context)
        except CosmosBatchOperationError as exc:
            if len(group) == 1:
                _settle(group[0], exc)
                return
            failed = _owner(group, exc.error_index)
            if failed is None:
                for member in group:
                    _settle(member, exc)
                return
            member, at = failed
            _settle(member, _within(exc, at))
            # The others did not fail on their own: sent again, first.
            partition.queued[:0] = [m for m in group if not m.result.done()]
            return
        except CosmosHttpResponseError as exc:
            if exc.status_code == _TOO_LARGE and len(group) > 1:
                for member in group:
                    member.alone = True
                partition.queued[:0] = group
                return
            for member in group:
                _settle(member, exc)
            return
        except Exception as exc:
            for member in group:
                _settle(member, exc)
            return
        at = 0
        for member in group:
            if not member.result.done():
                member.result.set_result(results[at : at + len(member.operations)])
            at += len(member.operations)


def _next_group(partition: _Partition) -> list[_Member]:
    """The queued batches that go next: in order, up to ``MAX_OPERATIONS`` operations (or one
    batch alone), no two touching one document (two commits carrying their series' refresh
    marker, a claim and a commit of one instance), so that each member's outcome is what it
    would be alone; those whose caller stopped waiting are dropped unsent."""
    group: list[_Member] = []
    count = 0
    touched: set[str] = set()
    while partition.queued:
        member = partition.queued[0]
        if member.result.done():
            partition.queued.pop(0)
            continue
        ids = {_document_id(op) for op in member.operations}
        if group and (
            member.alone or count + len(member.operations) > MAX_OPERATIONS or ids & touched
        ):
            break
        group.append(partition.queued.pop(0))
        count += len(member.operations)
        touched |= ids
        if member.alone:
            break
    return group


def _document_id(operation: Operation) -> str:
    """The id of the document a batch operation writes: ``(kind, (id, ...))`` for replace,
    read and delete, ``(kind, (body, ...))`` for create and upsert."""
    first = operation[1][0]
    return first if isinstance(first, str) else str(first["id"])


def _owner(group: list[_Member], index: int | None) -> tuple[_Member, int] | None:
    """The member whose operation ``index`` of the group is, and its index within it."""
    at = 0
    for member in group:
        if index is not None and at <= index < at + len(member.operations):
            return member, index - at
        at += len(member.operations)
    return None


def _settle(member: _Member, exc: BaseException) -> None:
    if not member.result.done():
        member.result.set_exception(exc)


def _within(exc: CosmosBatchOperationError, index: int) -> CosmosBatchOperationError:
    """The error as the member's own batch would have raised it: the index of its operation."""
    return CosmosBatchOperationError(  # type: ignore[no-untyped-call]
        error_index=index,
        headers=exc.headers or {},
        status_code=exc.status_code,
        message=exc.http_error_message,
        operation_responses=exc.operation_responses,
    )
