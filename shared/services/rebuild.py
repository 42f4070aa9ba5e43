"""Rebuilding the index from blob storage, the system of record.

Every committed instance has a file and a sidecar under one version; the sidecar alone gives its
index document. Where an instance has several complete versions (an interrupted replace), the
newest wins, as it would have had the replace finished. Aggregates are then recomputed with the
same code a store uses, so a rebuilt index equals one written live. Data partitions are recorded
again with the time of their oldest stored version.

The change feed is rebuilt from what storage keeps: one ``create`` entry per stored instance,
time-stamped when its store began (its version), numbered in that order once all are indexed.
What storage does not keep is lost: entries of replaced copies and of deleted instances, the
original timestamps (when each change committed) and sequence numbers (the rebuilt feed starts
again at 1). Readers that follow the feed by sequence start again from 0.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from shared.clients import Clients
from shared.services.query_tags import restore_tags
from shared.uid_index.index import Progress, number_all, refresh_aggregates
from shared.uid_index.keys import (
    COPY_KINDS,
    SIDECAR_KIND,
    BlobName,
    InstanceRef,
    blob_name,
    parse_blob_name,
    version_time,
)
from shared.uid_index.sidecar import Sidecar
from shared.uid_index.store_protocol import commit_sidecar

_CONCURRENCY = 16


@dataclass(frozen=True)
class RebuildSummary:
    instances: int
    series: int
    studies: int
    skipped: int


async def committed_versions(clients: Clients, prefix: str | None = None) -> dict[str, str]:
    """Instance blob prefix → newest version that has both its file and its sidecar.

    Other blobs of a version (a cached thumbnail) neither make it complete nor spoil it.
    """
    kinds: dict[tuple[str, str], set[str]] = defaultdict(set)
    async for name in clients.blobs.names(prefix):
        parsed: BlobName | None = parse_blob_name(name)
        if parsed is not None:
            kinds[(parsed.instance_prefix, parsed.version)].add(parsed.kind)
    newest: dict[str, str] = {}
    for (instance_prefix, version), found in kinds.items():
        if COPY_KINDS.issubset(found) and version > newest.get(instance_prefix, ""):
            newest[instance_prefix] = version
    return newest


async def rebuild_index(
    clients: Clients, progress: Progress | None = None, partition: str | None = None
) -> RebuildSummary:
    """Index every stored instance again: of every data partition, or only of ``partition``."""
    # The extended query tags first, so every instance is indexed on them as it is put back.
    await restore_tags(clients)
    versions = await committed_versions(clients, None if partition is None else f"{partition}/")
    total = len(versions)
    done = skipped = 0
    refs: list[InstanceRef] = []
    partitions: dict[str, float] = {}
    """Each data partition seen, with its oldest stored version's time: when it was created, as
    near as the files tell (a partition whose first instances were replaced seems younger)."""
    semaphore = asyncio.Semaphore(_CONCURRENCY)

    async def index_one(instance_prefix: str, version: str) -> None:
        nonlocal done, skipped
        async with semaphore:
            data = await clients.blobs.get(blob_name(instance_prefix, version, SIDECAR_KIND))
            sidecar = Sidecar.from_bytes(data) if data is not None else None
            if sidecar is None or (sidecar.ref.blob_prefix, sidecar.version) != (
                instance_prefix,
                version,
            ):
                skipped += 1
            else:
                await commit_sidecar(clients.index, sidecar)
                refs.append(sidecar.ref)
                partition = sidecar.ref.study.partition
                made = version_time(sidecar.version).timestamp()
                partitions[partition] = min(made, partitions.get(partition, made))
            done += 1
            if progress:
                progress("instances", done, total)

    in_store_order = sorted(versions.items(), key=lambda item: item[1])
    await asyncio.gather(*(index_one(p, v) for p, v in in_store_order))
    for name, created in partitions.items():
        await clients.index.record_partition(name, created)
    series = {r.series.key: r.series for r in refs}
    studies = {r.study.key for r in refs}
    await refresh_aggregates(clients.index, series.values(), progress)
    for partition in sorted({r.study.partition for r in refs}):
        await number_all(clients.index, partition)
    return RebuildSummary(len(refs), len(series), len(studies), skipped)
