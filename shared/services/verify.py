"""Checking the index against blob storage, and repairing what disagrees.

Blob storage is the system of record, so every disagreement is settled in its favour:

- **ghost**: a ``created`` instance entry whose file or sidecar is missing. Repaired by
  re-pointing it at the newest complete version in storage, or removing it when there is none.
  A missing thumbnail is no ghost: it is made again on the next request.
- **orphan**: blobs of a version no document points to. A complete version of an instance the
  index does not hold is a store that wrote its files but died before committing; it is indexed,
  as a rebuild would. Anything else (a superseded or half-written version, a thumbnail left
  behind by a delete) is deleted. Versions younger than two claim leases are left alone: their
  store may still be running.
- **stale claim**: a ``pending`` or ``deleting`` entry whose lease ran out; its store or
  delete died. A stale claim is released (with its files); a stale delete is finished.
- **aggregate**: a series or study aggregate whose counts or modalities differ from what its
  children say. Repaired by the same converging refresh a store uses.

Refresh-due markers (``refresh_due``) are not checked: they are the sweep's work list, not
damage, and whatever a store that died left uncounted shows up here as an aggregate finding.

Findings name blobs and documents by their digests only, never by UID.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from shared.clients import Clients
from shared.services.delete import purge
from shared.uid_index.index import (
    LEASE_SECONDS,
    InstanceEntry,
    Progress,
    SeriesAggregate,
    refresh_aggregates,
)
from shared.uid_index.keys import (
    COPY_KINDS,
    SIDECAR_KIND,
    InstanceRef,
    SeriesRef,
    blob_name,
    doc_id,
    parse_blob_name,
    version_time,
)
from shared.uid_index.lifecycle import Lifecycle
from shared.uid_index.sidecar import Sidecar
from shared.uid_index.store_protocol import commit_sidecar


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    detail: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    repaired: int = 0
    blobs: int = 0
    instances: int = 0

    def count(self, kind: str) -> int:
        return sum(f.kind == kind for f in self.findings)


def _version_age(version: str) -> float:
    return time.time() - version_time(version).timestamp()


async def verify(clients: Clients, *, repair: bool, progress: Progress | None = None) -> Report:
    report = Report()
    versions: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    async for name in clients.blobs.names():
        parsed = parse_blob_name(name)
        if parsed is not None:
            versions[parsed.instance_prefix][parsed.version].add(parsed.kind)
            report.blobs += 1
    entries = await clients.index.all_entries()
    report.instances = len(entries)
    by_prefix = {e.ref.blob_prefix: e for e in entries}
    touched: dict[str, SeriesRef] = {}
    now = time.time()

    def complete(prefix: str) -> list[str]:
        return sorted(
            v for v, kinds in versions.get(prefix, {}).items() if COPY_KINDS.issubset(kinds)
        )

    for n, entry in enumerate(entries, 1):
        ref = entry.ref
        found = versions.get(ref.blob_prefix, {}).get(entry.version, set())
        if entry.status is Lifecycle.CREATED and not COPY_KINDS.issubset(found):
            report.findings.append(Finding("ghost", ref.doc_id, "file or sidecar missing"))
            if repair:
                await _repair_ghost(clients, entry, complete(ref.blob_prefix))
                touched[ref.series.key] = ref.series
                report.repaired += 1
        elif entry.status is not Lifecycle.CREATED and entry.lease_until < now:
            report.findings.append(Finding("stale-claim", ref.doc_id, f"{entry.status} expired"))
            if repair:
                await purge(clients, [entry])
                touched[ref.series.key] = ref.series
                report.repaired += 1
        if progress:
            progress("instances", n, len(entries))

    for prefix, found_versions in versions.items():
        owner = by_prefix.get(prefix)
        for version, kinds in sorted(found_versions.items()):
            if owner is not None and owner.version == version:
                continue
            if _version_age(version) < 2 * LEASE_SECONDS:
                continue
            newest_complete = complete(prefix)[-1:] == [version]
            adopt = owner is None and COPY_KINDS.issubset(kinds) and newest_complete
            report.findings.append(
                Finding("orphan", f"{prefix}{version}", "unindexed" if adopt else "unreferenced")
            )
            if repair:
                adopted = await _repair_orphan(clients, prefix, version, kinds, adopt)
                if adopted is not None:
                    touched[adopted.series.key] = adopted.series
                report.repaired += 1

    if repair:
        await refresh_aggregates(clients.index, touched.values())
    aggregates = await _check_aggregates(clients)
    report.findings += aggregates
    if repair:
        for finding in aggregates:
            await _refresh_by_id(clients, finding.subject)
            report.repaired += 1
    return report


async def _repair_ghost(clients: Clients, entry: InstanceEntry, complete: list[str]) -> None:
    if complete:
        data = await clients.blobs.get(entry.ref.sidecar_blob(complete[-1]))
        if data is not None:
            await commit_sidecar(clients.index, Sidecar.from_bytes(data))
            return
    await clients.index.forget(entry)


async def _repair_orphan(
    clients: Clients, prefix: str, version: str, kinds: set[str], adopt: bool
) -> InstanceRef | None:
    if adopt:
        data = await clients.blobs.get(blob_name(prefix, version, SIDECAR_KIND))
        if data is not None:
            sidecar = Sidecar.from_bytes(data)
            if (sidecar.ref.blob_prefix, sidecar.version) == (prefix, version):
                await commit_sidecar(clients.index, sidecar)
                return sidecar.ref
    await clients.blobs.delete(blob_name(prefix, version, kind) for kind in sorted(kinds))
    return None


async def _check_aggregates(clients: Clients) -> list[Finding]:
    """Compare every series and study aggregate with a recount of its children."""
    findings: list[Finding] = []
    counts = await clients.index.visible_counts()
    by_study: dict[str, list[SeriesAggregate]] = defaultdict(list)
    for series in await clients.index.series_aggregates():
        by_study[series.study_key].append(series)
        if counts.pop(series.series_key, 0) != series.number_of_instances:
            findings.append(
                Finding("aggregate", doc_id("series", series.series_key), "instance count differs")
            )
    findings += [
        Finding("aggregate", doc_id("series", key), "series document missing") for key in counts
    ]
    for study in await clients.index.study_aggregates():
        children = by_study.pop(study.study_key, [])
        expected = (
            len(children),
            sum(s.number_of_instances for s in children),
            sorted({s.modality for s in children if s.modality}),
        )
        actual = (
            study.counts.number_of_series,
            study.counts.number_of_instances,
            list(study.counts.modalities),
        )
        if expected != actual:
            findings.append(
                Finding(
                    "aggregate", doc_id("study", study.study_key), "series, instances or modalities"
                )
            )
    findings += [
        Finding("aggregate", doc_id("study", key), "study document missing") for key in by_study
    ]
    return findings


async def _refresh_by_id(clients: Clients, aggregate_id: str) -> None:
    """Refresh an aggregate known only by its document id (digests, no UIDs at hand)."""
    kind, _, key = aggregate_id.partition("-")
    if kind == "series":
        series = await clients.index.locate_series(key)
        if series is not None:
            await refresh_aggregates(clients.index, [series])
    else:
        study = await clients.index.locate_study(key)
        if study is not None:
            await clients.index.refresh_study(study)
