"""Reads of the extended query tag registry, shared by the store requests of one process.

Every store reads the registry twice: as it begins, for the tags to index its instances on, and
after its last commit, to catch up on tags added meanwhile (``shared.services.reindex``). Only
the second read has to be fresh, and only in one sense: it must have been sent after the commits
it checks, so that a tag whose reindex passed them before they landed is seen. The first may be
any earlier registry: an instance indexed on an older one is caught up by the second read like
one whose tag was added during the request.

So a process keeps its latest read: a request beginning within ``MAX_AGE`` of it indexes on it,
and a request checking its commits joins a read still in flight if that read was sent after
them. Under load most stores then read the registry once, or not at all. A registry changed by
this process is read again at once (``forget``); one changed by another process is seen here
within ``MAX_AGE`` (until then, a store's tag warnings leave out the new tags, and its catch-up
indexes them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from shared.uid_index.tag_index import TagRegistry

MAX_AGE = 5.0
"""Seconds a registry read serves beginning stores. Older than that, a store reads it again, so
that tags added elsewhere rarely cost a catch-up."""


class RegistryReads:
    """The latest registry read of this process, and reads shared by those who can use them."""

    def __init__(self, read: Callable[[], Awaitable[TagRegistry]]) -> None:
        self._read = read
        self._latest: tuple[float, asyncio.Future[TagRegistry]] | None = None

    async def recent(self) -> TagRegistry:
        """A registry read at most ``MAX_AGE`` seconds ago (or being read)."""
        return await self.sent_after(time.monotonic() - MAX_AGE)

    async def sent_after(self, moment: float) -> TagRegistry:
        """A registry whose read was sent after ``moment`` (``time.monotonic()``): joined if one
        is in flight or done, else read now."""
        latest = self._latest
        if latest is None or latest[0] < moment or _failed(latest[1]):
            latest = (time.monotonic(), asyncio.ensure_future(self._read()))
            latest[1].add_done_callback(_retrieved)
            self._latest = latest
        # Shielded: a request cancelled while it waits does not cancel the others' read.
        return await asyncio.shield(latest[1])

    def forget(self) -> None:
        """After this process changed the registry: the next store reads it again."""
        self._latest = None


def _retrieved(read: asyncio.Future[TagRegistry]) -> None:
    """Marks a failure as seen: each waiter has it raised, even when none is left to wait."""
    if not read.cancelled():
        read.exception()


def _failed(read: asyncio.Future[TagRegistry]) -> bool:
    return read.done() and (read.cancelled() or read.exception() is not None)
