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
- **feed**: the change feed disagrees with the index: a ``created`` instance whose latest entry
  is not the ``create`` of its current copy (repaired by writing that entry: an index written
  before the change feed, or damaged by hand); an entry of a change its instance does not count
  (reported); an instance's entries numbered out of the order they committed, or a sequence
  given twice (reported: numbering is never redone, readers may have seen it).

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
from shared.uid_index.changes import Action
from shared.uid_index.index import (
    LEASE_SECONDS,
    ChangeRecord,
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


async def verify(
    clients: Clients,
    *,
    repair: bool,
    progress: Progress | None = None,
    partition: str | None = None,
) -> Report:
    """Compare blob storage with the index: every data partition, or only ``partition``."""
    report = Report()
    versions: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    studies: set[str] = set()
    series_keys: set[str] = set()
    async for name in clients.blobs.names(None if partition is None else f"{partition}/"):
        parsed = parse_blob_name(name)
        if parsed is not None:
            versions[parsed.instance_prefix][parsed.version].add(parsed.kind)
            studies.add(parsed.study_key)
            series_keys.add(parsed.series_key)
            report.blobs += 1
    entries = _in_partition(await clients.index.all_entries(), partition)
    studies |= {e.ref.study.key for e in entries}
    series_keys |= {e.ref.series.key for e in entries}
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
            if owner is not None and version in owner.versions:
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
    scope = None if partition is None else (studies, series_keys)
    aggregates = await _check_aggregates(clients, scope)
    report.findings += aggregates
    if repair:
        for finding in aggregates:
            await _refresh_by_id(clients, finding.subject)
            report.repaired += 1
    if repair:
        # Read again: repairs changed entries (and their etags) since the first read.
        entries = _in_partition(await clients.index.all_entries(), partition)
    changes = [c for c in await clients.index.all_changes() if partition in (None, c.partition)]
    unfed, feed_findings = check_feed(entries, changes)
    report.findings += feed_findings
    if repair:
        for entry in unfed:
            await clients.index.record_current(entry)
            report.repaired += 1
    return report


def check_feed(
    entries: list[InstanceEntry], changes: list[ChangeRecord]
) -> tuple[list[InstanceEntry], list[Finding]]:
    """The created entries whose current copy has no entry, and every feed finding."""
    by_instance: dict[str, list[ChangeRecord]] = defaultdict(list)
    for change in changes:
        by_instance[change.instance_key].append(change)
    unfed: list[InstanceEntry] = []
    findings: list[Finding] = []
    for entry in entries:
        own = by_instance.get(entry.ref.key, [])
        last = max(own, key=lambda c: c.n, default=None)
        if entry.status is Lifecycle.CREATED and (
            last is None
            or (last.n, last.version) != (entry.history.count, entry.version)
            or last.action is Action.DELETE
        ):
            unfed.append(entry)
            findings.append(Finding("feed", entry.ref.doc_id, "no entry for the current copy"))
        findings += [
            Finding("feed", c.entry_id, "entry of a change the index does not count")
            for c in own
            if c.n > entry.history.count
        ]
    for own in by_instance.values():
        numbered = sorted((c for c in own if c.sequence is not None), key=lambda c: c.n)
        sequences = [c.sequence or 0 for c in numbered]
        if sequences != sorted(sequences):
            findings.append(Finding("feed", numbered[0].entry_id, "numbered out of commit order"))
    seen: set[tuple[str, int]] = set()
    for change in changes:
        if change.sequence is not None:
            # Each data partition numbers its own feed.
            if (change.partition, change.sequence) in seen:
                findings.append(Finding("feed", change.entry_id, "sequence given twice"))
            seen.add((change.partition, change.sequence))
    return unfed, findings


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


def _in_partition(entries: list[InstanceEntry], partition: str | None) -> list[InstanceEntry]:
    return [e for e in entries if partition in (None, e.ref.study.partition)]


async def _check_aggregates(
    clients: Clients, scope: tuple[set[str], set[str]] | None
) -> list[Finding]:
    """Compare every series and study aggregate with a recount of its children; with ``scope``,
    only those of its studies and series (digests: one data partition's)."""
    findings: list[Finding] = []
    counts = await clients.index.visible_counts()
    by_study: dict[str, list[SeriesAggregate]] = defaultdict(list)
    series_aggregates = await clients.index.series_aggregates()
    study_aggregates = await clients.index.study_aggregates()
    if scope is not None:
        studies, series_keys = scope
        counts = {key: n for key, n in counts.items() if key in series_keys}
        series_aggregates = [s for s in series_aggregates if s.study_key in studies]
        study_aggregates = [s for s in study_aggregates if s.study_key in studies]
    for series in series_aggregates:
        by_study[series.study_key].append(series)
        if counts.pop(series.series_key, 0) != series.number_of_instances:
            findings.append(
                Finding("aggregate", doc_id("series", series.series_key), "instance count differs")
            )
    findings += [
        Finding("aggregate", doc_id("series", key), "series document missing") for key in counts
    ]
    for study in study_aggregates:
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
            await clients.index.refresh(study, [])
