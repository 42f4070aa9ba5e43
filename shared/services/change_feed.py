"""The change feed (the Azure DICOM service's ``/changefeed``): what was stored, replaced and
deleted, in order, one entry per instance and change.

Each read first runs a numbering round (``Index.number_changes``), so entries committed since the
last read are readable at once, then reads the page. Entries are as the Azure DICOM service
shows them: ``Sequence``, the three UIDs, ``Action``, ``Timestamp`` (UTC), ``State`` and, when
asked and the instance is stored (current or replaced), its current DICOM JSON ``Metadata``, with
the BulkDataURIs a metadata request would give.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from shared.clients import Clients
from shared.errors import NotFound
from shared.services.metadata import served_metadata
from shared.services.retrieve_scope import SIDECARS_AHEAD, read_sidecar
from shared.uid_index.index import Change
from shared.web.change_feed_params import FeedPage

JsonDict = dict[str, Any]


def timestamp_text(timestamp: float) -> str:
    """A timestamp as the feed shows it: ISO 8601 in UTC, to the microsecond."""
    text = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def entry_json(change: Change, metadata: JsonDict | None) -> JsonDict:
    ref = change.ref
    entry: JsonDict = {
        "Sequence": change.sequence,
        "StudyInstanceUid": ref.study.study_uid,
        "SeriesInstanceUid": ref.series.series_uid,
        "SopInstanceUid": ref.sop_instance_uid,
        "Action": change.action.value,
        "Timestamp": timestamp_text(change.timestamp),
        "State": change.state.value,
    }
    if metadata is not None:
        entry["Metadata"] = metadata
    return entry


async def _entries(
    clients: Clients, changes: list[Change], with_metadata: bool, root: str
) -> list[JsonDict]:
    semaphore = asyncio.Semaphore(SIDECARS_AHEAD)

    async def one(change: Change) -> JsonDict:
        if not with_metadata or change.stored is None:
            return entry_json(change, None)
        async with semaphore:
            try:
                sidecar = await read_sidecar(clients.blobs, change.stored)
            except NotFound:
                # Replaced or deleted since the entry was read: no current metadata to show.
                return entry_json(change, None)
        return entry_json(change, served_metadata(sidecar, root))

    return await asyncio.gather(*(one(c) for c in changes))


async def read_changes(
    clients: Clients, partition: str, page: FeedPage, root: str
) -> list[JsonDict]:
    """The page's entries, in sequence order."""
    await clients.index.number_changes(partition)
    if page.window is None:
        changes = await clients.index.changes_after(partition, page.offset, page.limit)
    else:
        start, end = page.window
        changes = await clients.index.changes_between(
            partition, start, end, page.offset, page.limit
        )
    return await _entries(clients, changes, page.include_metadata, root)


async def read_latest(
    clients: Clients, partition: str, with_metadata: bool, root: str
) -> JsonDict | None:
    """The entry with the highest sequence; None while the feed is empty."""
    await clients.index.number_changes(partition)
    latest = await clients.index.latest_change(partition)
    if latest is None:
        return None
    return (await _entries(clients, [latest], with_metadata, root))[0]
