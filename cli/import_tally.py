"""The running count of an import, and what it writes at the end: the summary and the report.

The report (JSON, or CSV by the file's extension) has one row per file: its path, its SOP
Instance UID when known, its outcome and the reason. It stays on the user's machine: file paths
may name patients, and they are never sent to the server.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cli.progress import MB
from cli.sources import DicomFile, Outcome, Rejected
from cli.stow_results import InstanceResult

REPORT_FIELDS = ("path", "sop_instance_uid", "outcome", "reason")
# Failures listed in the summary; the report has them all.
SHOWN_FAILURES = 10


@dataclass(frozen=True)
class FileRecord:
    path: str
    sop_instance_uid: str | None
    outcome: Outcome
    reason: str


@dataclass
class Tally:
    """Outcomes so far. ``found`` counts DICOM files; ``total`` is set once the scan is over."""

    started: float = field(default_factory=time.monotonic)
    found: int = 0
    total: int | None = None
    done: int = 0
    sent_bytes: int = 0
    retries: int = 0
    counts: Counter[Outcome] = field(default_factory=Counter)
    records: list[FileRecord] = field(default_factory=list)
    ended: float | None = None

    def rejected(self, item: Rejected) -> None:
        self._record(FileRecord(item.path, None, item.outcome, item.reason))

    def sent(self, files: list[DicomFile], results: list[InstanceResult]) -> None:
        for file, result in zip(files, results, strict=True):
            uid = result.sop_instance_uid or file.sop_instance_uid
            self._record(FileRecord(file.path, uid, result.outcome, result.reason))
            self.done += 1
            self.sent_bytes += file.size

    def finish(self) -> None:
        self.ended = time.monotonic()
        self.total = self.found

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def failed(self) -> bool:
        return self.counts[Outcome.FAILED] > 0

    def summary(self) -> dict[str, float | int]:
        seconds = max(self.elapsed, 1e-6)
        return {
            "stored": self.counts[Outcome.STORED],
            "already_present": self.counts[Outcome.PRESENT],
            "failed": self.counts[Outcome.FAILED],
            "skipped_not_dicom": self.counts[Outcome.SKIPPED],
            "instances": self.done,
            "bytes": self.sent_bytes,
            "retries": self.retries,
            "elapsed_seconds": round(seconds, 3),
            "instances_per_second": round(self.done / seconds, 1),
            "mb_per_second": round(self.sent_bytes / MB / seconds, 2),
        }

    def summary_lines(self) -> list[str]:
        s = self.summary()
        retries = f" ({s['retries']} retries)" if s["retries"] else ""
        lines = [
            f"{s['stored']} stored, {s['already_present']} already present, {s['failed']} failed, "
            f"{s['skipped_not_dicom']} skipped (not DICOM)",
            f"{s['instances']} instances, {self.sent_bytes / MB:.1f} MB "
            f"in {s['elapsed_seconds']} s: {s['instances_per_second']} instances/s, "
            f"{s['mb_per_second']} MB/s{retries}",
        ]
        failures = sorted((r for r in self.records if r.outcome is Outcome.FAILED), key=_path)
        lines += [f"failed: {r.path}: {r.reason}" for r in failures[:SHOWN_FAILURES]]
        if len(failures) > SHOWN_FAILURES:
            lines.append(f"... and {len(failures) - SHOWN_FAILURES} more failures (see the report)")
        return lines

    def write_report(self, path: Path) -> None:
        """CSV for a ``.csv`` name, JSON (summary and files) for anything else."""
        rows = sorted(self.records, key=_path)
        with path.open("w", encoding="utf-8", newline="") as out:
            if path.suffix.lower() == ".csv":
                writer = csv.DictWriter(out, fieldnames=REPORT_FIELDS)
                writer.writeheader()
                writer.writerows(_row(r) for r in rows)
            else:
                json.dump(
                    {"summary": self.summary(), "files": [_row(r) for r in rows]}, out, indent=1
                )
                out.write("\n")

    def _record(self, record: FileRecord) -> None:
        self.counts[record.outcome] += 1
        self.records.append(record)


def _path(record: FileRecord) -> str:
    return record.path


def _row(record: FileRecord) -> dict[str, str]:
    row = asdict(record)
    return {name: "" if row[name] is None else str(row[name]) for name in REPORT_FIELDS}
