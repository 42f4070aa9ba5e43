"""Frames read while the index is asked whether their instance is still stored.

A frame retrieve stands on two storage round trips, one after the other: the index (is the
instance visible, and at which version?), then the frame's bytes. A viewer scrolling a series
asks again and again for frames of instances this process has served or stored a moment
before, whose version it saw then and whose sidecar (the frames' byte ranges) it still holds.
For those, the frames' stored bytes are read at once with the index look-up, and used only when
the index answers with that same version: a version's files never change, so the answer is
always the one the index gives now; otherwise the reads are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from dataclasses import dataclass

from shared.storage.blob_store import BlobStore
from shared.uid_index.index import StoredInstance
from shared.uid_index.keys import InstanceRef
from shared.uid_index.sidecar import Sidecar

SEEN_INSTANCES = 65_536
"""Instances whose last seen version is kept (about 200 bytes each)."""
FRAMES_AT_MOST = 4
"""Frames of one request read ahead of the index's answer; a longer list waits for it."""

_seen: OrderedDict[str, StoredInstance] = OrderedDict()

Key = tuple[str, int, int]


def remember(instance: StoredInstance) -> None:
    """Keep the version the index gave for an instance, for its next frame retrieve."""
    _seen[instance.ref.doc_id] = instance
    _seen.move_to_end(instance.ref.doc_id)
    while len(_seen) > SEEN_INSTANCES:
        _seen.popitem(last=False)


def last_seen(ref: InstanceRef) -> StoredInstance | None:
    return _seen.get(ref.doc_id)


class PrefetchedBlobs(BlobStore):
    """A blob store that answers some ranged reads with reads already under way."""

    def __init__(self, blobs: BlobStore, reads: dict[Key, asyncio.Task[bytes]]) -> None:
        super().__init__(blobs.container)
        self._reads = reads

    async def read_range(self, name: str, offset: int, length: int) -> bytes:
        task = self._reads.pop((name, offset, length), None)
        if task is not None:
            return await task
        return await super().read_range(name, offset, length)


@dataclass
class Prefetch:
    """Reads of some frames of one version, started before the index said it is current."""

    instance: StoredInstance
    sidecar: Sidecar
    """The version's sidecar, as this process holds it: the frames' byte ranges came from it."""
    reads: dict[Key, asyncio.Task[bytes]]

    def of(self, current: StoredInstance) -> bool:
        """Whether the reads are of ``current``'s version; if not, they are dropped."""
        if current.version == self.instance.version:
            return True
        self.drop()
        return False

    def blobs(self, blobs: BlobStore) -> BlobStore:
        """``blobs``, answering the ranges read ahead with those reads."""
        return PrefetchedBlobs(blobs, self.reads)

    def drop(self) -> None:
        for task in self.reads.values():
            task.cancel()


def _retrieved(task: asyncio.Task[bytes]) -> None:
    """A read nobody awaited (dropped, or of a range the answer did not need) ends quietly."""
    with contextlib.suppress(BaseException):
        task.exception()


def start(
    blobs: BlobStore, seen: StoredInstance, sidecar: Sidecar, ranges: list[tuple[int, int]]
) -> Prefetch:
    """Start reading ``ranges`` of the file of ``seen``, the version last seen."""
    name = seen.file_blob
    reads: dict[Key, asyncio.Task[bytes]] = {}
    for offset, length in ranges:
        task = asyncio.create_task(blobs.read_range(name, offset, length))
        task.add_done_callback(_retrieved)
        reads[(name, offset, length)] = task
    return Prefetch(seen, sidecar, reads)
