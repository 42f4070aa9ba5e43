"""A bounded in-process cache of write-once blobs, least recently used out first.

Ingest sidecars are written once, under a name that carries their instance's version, and never
changed: a replace writes a new version under a new name. A copy read once therefore stays right
for as long as the name is in use, and whether that version is still visible is decided by the
index, which every retrieve asks first. Keeping recent sidecars saves the blob read that
dominates metadata and frame retrieves; the bound is on the bytes kept, so memory stays flat.
"""

from __future__ import annotations

from collections import OrderedDict


class BlobCache:
    """Blob contents by name, at most ``max_bytes`` of them in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._held: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, name: str) -> bytes | None:
        data = self._held.get(name)
        if data is not None:
            self._held.move_to_end(name)
        return data

    def put(self, name: str, data: bytes) -> None:
        """Keep ``data``, dropping the least recently used blobs to make room for it."""
        if len(data) > self.max_bytes:
            return
        previous = self._held.pop(name, None)
        if previous is not None:
            self._size -= len(previous)
        self._held[name] = data
        self._size += len(data)
        while self._size > self.max_bytes:
            _, dropped = self._held.popitem(last=False)
            self._size -= len(dropped)

    @property
    def size(self) -> int:
        return self._size
