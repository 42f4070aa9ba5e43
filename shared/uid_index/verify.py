"""Checking the index against blob storage, and repairing what disagrees.

Blob storage is the system of record, so every disagreement is settled in its favour:

- **ghost**: a ``created`` instance document whose file or sidecar is missing. Repaired by
  re-pointing it at the newest complete version in storage, or removing it when there is none.
  A missing thumbnail is no ghost: it is made again on the next request.
- **orphan**: blobs of a version no document points to. A complete version of an instance the
  index does not hold is a store that wrote its files but died before committing; it is indexed,
  as a rebuild would. Anything else (a superseded or half-written version, a thumbnail left
  behind by a delete) is deleted. Versions younger than two claim leases are left alone: their
  store may still be running.
- **stale claim**: a ``pending`` or ``deleting`` document whose lease ran out; its store or
  delete died. A stale claim is released (with its files); a stale delete is finished.
- **aggregate**: a series or study document whose counts or modalities differ from what its
  children say. Repaired by the same converging refresh a store uses.

Refresh-due markers (``refresh_due``) are not checked: they are the sweep's work list, not
damage, and whatever a store that died left uncounted shows up here as an aggregate finding.

Findings name blobs and documents by their digests only, never by UID.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.clients import Clients
from shared.uid_index.deleter import purge
from shared.uid_index.documents import IndexRecord, instance_document, instance_ref
from shared.uid_index.keys import COPY_KINDS, InstanceRef, SeriesRef, StudyRef, parse_blob_name
from shared.uid_index.sidecar import Sidecar
from shared.uid_index.writer import (
    LEASE_SECONDS,
    delete_if_unchanged,
    refresh_series,
    refresh_study,
)

Progress = Callable[[str, int, int], None]


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
    return time.time() - int(version[:16], 16) / 1e6


async def _all(clients: Clients, query: str) -> list[dict[str, Any]]:
    return [d async for d in clients.index.query_items(query)]


async def verify(clients: Clients, *, repair: bool, progress: Progress | None = None) -> Report:
    report = Report()
    versions: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    async for name in clients.blobs.names():
        parsed = parse_blob_name(name)
        if parsed is not None:
            versions[parsed.instance_prefix][parsed.version].add(parsed.kind)
            report.blobs += 1
    docs = await _all(clients, "SELECT * FROM c WHERE c.type = 'instance'")
    report.instances = len(docs)
    by_prefix = {instance_ref(d).blob_prefix: d for d in docs}
    touched: dict[str, SeriesRef] = {}
    now = time.time()

    def complete(prefix: str) -> list[str]:
        return sorted(
            v for v, kinds in versions.get(prefix, {}).items() if COPY_KINDS.issubset(kinds)
        )

    for n, doc in enumerate(docs, 1):
        ref = instance_ref(doc)
        found = versions.get(ref.blob_prefix, {}).get(doc["version"], set())
        if doc["status"] == "created" and not COPY_KINDS.issubset(found):
            report.findings.append(Finding("ghost", doc["id"], "file or sidecar missing"))
            if repair:
                await _repair_ghost(clients, doc, complete(ref.blob_prefix))
                touched[ref.series.key] = ref.series
                report.repaired += 1
        elif doc["status"] in ("pending", "deleting") and doc["leaseUntil"] < now:
            report.findings.append(Finding("stale-claim", doc["id"], f"{doc['status']} expired"))
            if repair:
                await purge(clients, [doc])
                touched[ref.series.key] = ref.series
                report.repaired += 1
        if progress:
            progress("instances", n, len(docs))

    for prefix, found_versions in versions.items():
        owner = by_prefix.get(prefix)
        for version, kinds in sorted(found_versions.items()):
            if owner is not None and owner["version"] == version:
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
        for series in touched.values():
            await refresh_series(clients.index, series)
        for study in {s.study.key: s.study for s in touched.values()}.values():
            await refresh_study(clients.index, study)
    aggregates = await _check_aggregates(clients)
    report.findings += aggregates
    if repair:
        for finding in aggregates:
            await _refresh_by_id(clients, finding.subject)
            report.repaired += 1
    return report


async def _repair_ghost(clients: Clients, doc: dict[str, Any], complete: list[str]) -> None:
    if complete:
        data = await clients.blobs.get(instance_ref(doc).sidecar_blob(complete[-1]))
        if data is not None:
            await _index_sidecar(clients, Sidecar.from_bytes(data))
            return
    await _delete_doc(clients, doc)


async def _index_sidecar(clients: Clients, sidecar: Sidecar) -> None:
    record = IndexRecord.from_sidecar(sidecar)
    await clients.index.upsert_item(instance_document(record, status="created", lease_until=0.0))


async def _delete_doc(clients: Clients, doc: dict[str, Any]) -> None:
    await delete_if_unchanged(clients.index, doc["id"], doc["pk"], doc["_etag"])


async def _repair_orphan(
    clients: Clients, prefix: str, version: str, kinds: set[str], adopt: bool
) -> InstanceRef | None:
    if adopt:
        data = await clients.blobs.get(f"{prefix}{version}.json")
        if data is not None:
            sidecar = Sidecar.from_bytes(data)
            if (sidecar.ref.blob_prefix, sidecar.version) == (prefix, version):
                await _index_sidecar(clients, sidecar)
                return sidecar.ref
    await clients.blobs.delete(f"{prefix}{version}.{kind}" for kind in sorted(kinds))
    return None


async def _check_aggregates(clients: Clients) -> list[Finding]:
    """Compare every series and study document with a recount of its children."""
    findings: list[Finding] = []
    counts: dict[str, int] = defaultdict(int)
    for row in await _all(
        clients,
        "SELECT c.pk, c.seriesKey FROM c WHERE c.type = 'instance' AND c.status = 'created'",
    ):
        counts[f"series-{row['seriesKey']}"] += 1
    series_docs = await _all(clients, "SELECT * FROM c WHERE c.type = 'series'")
    by_study: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in series_docs:
        by_study[doc["pk"]].append(doc)
        if counts.pop(doc["id"], 0) != doc["numberOfInstances"]:
            findings.append(Finding("aggregate", doc["id"], "instance count differs"))
    findings += [Finding("aggregate", key, "series document missing") for key in counts]
    for doc in await _all(clients, "SELECT * FROM c WHERE c.type = 'study'"):
        children = by_study.pop(doc["pk"], [])
        expected = (
            len(children),
            sum(int(s["numberOfInstances"]) for s in children),
            sorted({s["modality"] for s in children if s.get("modality")}),
        )
        actual = (doc["numberOfSeries"], doc["numberOfInstances"], doc["modalities"])
        if expected != actual:
            findings.append(Finding("aggregate", doc["id"], "series, instances or modalities"))
    findings += [Finding("aggregate", f"study-{pk}", "study document missing") for pk in by_study]
    return findings


async def _refresh_by_id(clients: Clients, doc_id: str) -> None:
    """Refresh an aggregate known only by its document id (digests, no UIDs at hand)."""
    kind, _, key = doc_id.partition("-")
    field_name = "seriesKey" if kind == "series" else "pk"
    parameters: list[dict[str, object]] = [{"name": "@key", "value": key}]
    rows = [
        row
        async for row in clients.index.query_items(
            f"SELECT TOP 1 * FROM c WHERE c.type = 'instance' AND c.{field_name} = @key",
            parameters=parameters,
        )
    ]
    if not rows:
        parameters = [{"name": "@id", "value": doc_id}]
        rows = [
            row
            async for row in clients.index.query_items(
                "SELECT * FROM c WHERE c.id = @id", parameters=parameters
            )
        ]
    for row in rows:
        study = StudyRef(row["partition"], row["studyUID"])
        if kind == "series":
            await refresh_series(clients.index, SeriesRef(study, row["seriesUID"]))
        await refresh_study(clients.index, study)
