"""Shared registry reads: a beginning store may take any recent read, a catch-up only one sent
after its commits, and a failed read is never handed to a later caller."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.uid_index import registry_reads
from shared.uid_index.registry_reads import RegistryReads
from shared.uid_index.tag_index import TagRegistry


class Registry:
    """A registry source that counts its reads and answers when told to."""

    def __init__(self) -> None:
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def read(self) -> TagRegistry:
        self.reads += 1
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("index down")
        return TagRegistry((), f"generation-{self.reads}", None)


async def test_recent_reads_are_shared_within_the_age() -> None:
    source = Registry()
    reads = RegistryReads(source.read)
    first = await reads.recent()
    assert await reads.recent() is first
    assert source.reads == 1


async def test_a_read_older_than_the_age_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    source = Registry()
    reads = RegistryReads(source.read)
    await reads.recent()
    monkeypatch.setattr(registry_reads, "MAX_AGE", 0.0)
    await asyncio.sleep(0.001)
    assert (await reads.recent()).generation == "generation-2"


async def test_a_check_after_a_commit_joins_only_a_read_sent_after_it() -> None:
    source = Registry()
    reads = RegistryReads(source.read)
    await reads.recent()
    committed = time.monotonic()
    source.gate.clear()
    one = asyncio.ensure_future(reads.sent_after(committed))
    two = asyncio.ensure_future(reads.sent_after(committed))
    await asyncio.sleep(0)
    source.gate.set()
    assert (await one) is (await two)
    assert (await one).generation == "generation-2"
    assert source.reads == 2


async def test_a_failed_read_is_raised_to_its_waiters_then_read_again() -> None:
    source = Registry()
    reads = RegistryReads(source.read)
    source.fail = True
    with pytest.raises(ConnectionError):
        await reads.recent()
    source.fail = False
    assert (await reads.recent()).generation == "generation-2"


async def test_a_cancelled_waiter_leaves_the_shared_read_to_the_others() -> None:
    source = Registry()
    reads = RegistryReads(source.read)
    source.gate.clear()
    cancelled = asyncio.ensure_future(reads.recent())
    waiting = asyncio.ensure_future(reads.recent())
    await asyncio.sleep(0)
    cancelled.cancel()
    source.gate.set()
    assert (await waiting).generation == "generation-1"
    assert source.reads == 1


async def test_forgetting_makes_the_next_store_read_again() -> None:
    source = Registry()
    reads = RegistryReads(source.read)
    await reads.recent()
    reads.forget()
    assert (await reads.recent()).generation == "generation-2"
