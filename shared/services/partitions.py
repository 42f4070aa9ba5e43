"""Data partitions: recorded by their first store, listed as the Azure DICOM service lists them.

A partition is part of every instance's identity (``shared.uid_index.keys``), so isolation needs
no registry; the registry is what ``GET /partitions`` answers from. Each process records a
partition once (a create that keeps an existing record), then remembers it, so a store costs
one index write per partition per process, not one per request.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from shared.uid_index.index import Index

_recorded: set[str] = set()


async def record_partition(index: Index, name: str) -> None:
    """Make sure ``name`` is listed, before anything is stored in it."""
    if name in _recorded:
        return
    await index.record_partition(name, time.time())
    _recorded.add(name)


async def list_partitions(index: Index) -> list[dict[str, Any]]:
    """The partitions, oldest first, each numbered by its place in that order."""
    return [
        {
            "partitionKey": number,
            "partitionName": partition.name,
            "createdDate": datetime.fromtimestamp(partition.created, UTC).isoformat(),
        }
        for number, partition in enumerate(await index.partitions(), start=1)
    ]
