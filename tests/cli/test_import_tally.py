"""The summary and the per-file report (JSON and CSV)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from cli.import_tally import SHOWN_FAILURES, Tally
from cli.sources import DicomFile, Outcome, Rejected
from cli.stow_results import InstanceResult


def tally_of(failures: int = 1) -> Tally:
    tally = Tally()
    files = [DicomFile(f"d/{i}", 1_000_000, f"1.{i}", io.BytesIO) for i in range(2 + failures)]
    results = [
        InstanceResult("1.0", Outcome.STORED),
        InstanceResult("1.1", Outcome.PRESENT),
        *(
            InstanceResult(None, Outcome.FAILED, "43264 (validation failed)")
            for _ in range(failures)
        ),
    ]
    tally.found = len(files)
    tally.sent(files, results)
    tally.rejected(Rejected("d/notes.txt", Outcome.SKIPPED, "not DICOM"))
    tally.finish()
    return tally


def test_the_summary_counts_each_outcome() -> None:
    tally = tally_of()
    summary = tally.summary()
    assert {
        k: summary[k] for k in ("stored", "already_present", "failed", "skipped_not_dicom")
    } == {
        "stored": 1,
        "already_present": 1,
        "failed": 1,
        "skipped_not_dicom": 1,
    }
    assert summary["instances"] == 3 and summary["bytes"] == 3_000_000
    assert tally.failed
    lines = tally.summary_lines()
    assert lines[0] == "1 stored, 1 already present, 1 failed, 1 skipped (not DICOM)"
    assert lines[1].startswith("3 instances, 3.0 MB in ") and "instances/s" in lines[1]
    assert lines[2] == "failed: d/2: 43264 (validation failed)"


def test_many_failures_are_shortened_in_the_summary() -> None:
    lines = tally_of(failures=SHOWN_FAILURES + 3).summary_lines()
    assert lines[-1] == "... and 3 more failures (see the report)"
    assert len([line for line in lines if line.startswith("failed: ")]) == SHOWN_FAILURES


def test_json_report(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    tally_of().write_report(path)
    report = json.loads(path.read_text())
    assert report["summary"]["failed"] == 1
    assert report["files"] == [
        {"path": "d/0", "sop_instance_uid": "1.0", "outcome": "stored", "reason": ""},
        {"path": "d/1", "sop_instance_uid": "1.1", "outcome": "already-present", "reason": ""},
        {
            "path": "d/2",
            "sop_instance_uid": "1.2",
            "outcome": "failed",
            "reason": "43264 (validation failed)",
        },
        {
            "path": "d/notes.txt",
            "sop_instance_uid": "",
            "outcome": "skipped",
            "reason": "not DICOM",
        },
    ]


def test_csv_report(tmp_path: Path) -> None:
    path = tmp_path / "report.CSV"
    tally_of().write_report(path)
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path", "sop_instance_uid", "outcome", "reason"]
    assert rows[1:] == [
        ["d/0", "1.0", "stored", ""],
        ["d/1", "1.1", "already-present", ""],
        ["d/2", "1.2", "failed", "43264 (validation failed)"],
        ["d/notes.txt", "", "skipped", "not DICOM"],
    ]
