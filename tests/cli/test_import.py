"""``python -m cli import`` against the local stack, over real HTTP, as a user runs it."""

from __future__ import annotations

import csv
import http.server
import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from tests.cli.corpus_tree import build_tree, instance
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

DICOM_JSON = {"Accept": "application/dicom+json"}


def run_import(*args: str | Path) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "import", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout, done.stderr


def report_of(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def outcomes(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {row["path"]: (row["outcome"], row["sop_instance_uid"]) for row in report["files"]}


def searched_instances(base_url: str, study: str) -> set[str]:
    response = httpx.get(f"{base_url}/v2/studies/{study}/instances", headers=DICOM_JSON)
    response.raise_for_status()
    return {item["00080018"]["Value"][0] for item in response.json()}


def test_a_folder_and_a_zip_are_imported_and_a_second_import_finds_them_present(
    base_url: str, tmp_path: Path
) -> None:
    study = generate_uid()
    tree = build_tree(tmp_path / "data", files=7, zipped=4, study_uid=study)
    report = tmp_path / "report.json"
    code, out, err = run_import(
        tmp_path / "data", "--url", f"{base_url}/v2", "--batch", "3", "--report", report
    )
    assert code == 0, err
    assert out.splitlines()[0] == "11 stored, 0 already present, 0 failed, 3 skipped (not DICOM)"
    assert err == ""  # not a terminal: no progress line
    first = report_of(report)
    assert first["summary"]["instances"] == 11 and first["summary"]["failed"] == 0
    assert outcomes(first) == {
        **{path: ("stored", uid) for path, uid in tree.instances.items()},
        **{path: ("skipped", "") for path in tree.not_dicom},
    }
    assert searched_instances(base_url, study) == set(tree.instances.values())

    code, out, err = run_import(tmp_path / "data", "--url", f"{base_url}/v2", "--report", report)
    assert code == 0, err
    assert out.splitlines()[0] == "0 stored, 11 already present, 0 failed, 3 skipped (not DICOM)"
    assert {outcome for outcome, _ in outcomes(report_of(report)).values()} == {
        "already-present",
        "skipped",
    }


def test_an_instance_the_server_refuses_fails_with_its_reason(
    base_url: str, tmp_path: Path
) -> None:
    study = generate_uid()
    good, good_uid = instance("CT_small.dcm", study)
    bad, _ = instance("MR_small.dcm", study)
    ds = dcmread(io.BytesIO(bad))
    del ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer)
    (tmp_path / "good.dcm").write_bytes(good)
    (tmp_path / "no-uid.dcm").write_bytes(buffer.getvalue())
    report = tmp_path / "report.csv"
    code, out, _ = run_import(tmp_path, "--url", f"{base_url}/v2", "--report", report)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "1 stored, 0 already present, 1 failed, 0 skipped (not DICOM)"
    assert lines[2].startswith(f"failed: {tmp_path / 'no-uid.dcm'}: 43264 (validation failed): ")
    assert "SOPInstanceUID" in lines[2]
    with report.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[1] == [str(tmp_path / "good.dcm"), good_uid, "stored", ""]
    assert rows[2] == [
        str(tmp_path / "no-uid.dcm"),
        "",
        "failed",
        "43264 (validation failed): (0008,0018) SOPInstanceUID: is missing or empty",
    ]
    assert searched_instances(base_url, study) == {good_uid}


def test_copies_of_one_instance_sent_at_once_end_stored_once_and_present(
    base_url: str, tmp_path: Path
) -> None:
    """Copies in concurrent requests meet the server's claim on the instance (45071); the
    importer sends those again and they are then found already stored."""
    study = generate_uid()
    data, uid = instance("CT_small.dcm", study)
    for copy in range(6):
        (tmp_path / f"copy{copy}.dcm").write_bytes(data)
    code, out, err = run_import(
        tmp_path, "--url", f"{base_url}/v2", "--batch", "1", "--concurrency", "6"
    )
    assert code == 0, out + err
    assert out.splitlines()[0] == "1 stored, 5 already present, 0 failed, 0 skipped (not DICOM)"
    assert searched_instances(base_url, study) == {uid}


class FlakyProxy(http.server.ThreadingHTTPServer):
    """Forwards to the real service, after first dropping one connection unanswered and then
    answering 503 with Retry-After, as a busy or restarting service does."""

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.target = target
        self.posts = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: FlakyProxy

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.posts += 1
            attempt = self.server.posts
        if attempt == 1:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if attempt == 2:
            self.send_response(503)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {k: self.headers[k] for k in ("Content-Type", "Accept")}
        answer = httpx.post(self.server.target + self.path, content=body, headers=headers)
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers["content-type"])
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the proxy's counter, not its log."""


@pytest.fixture
def proxy(base_url: str) -> Iterator[FlakyProxy]:
    server = FlakyProxy(base_url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_dropped_connection_and_a_503_are_retried_until_stored(
    base_url: str, proxy: FlakyProxy, tmp_path: Path
) -> None:
    study = generate_uid()
    tree = build_tree(tmp_path, files=3, zipped=0, study_uid=study)
    code, out, err = run_import(tmp_path, "--url", f"{proxy.url}/v2", "--batch", "10")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "3 stored, 0 already present, 0 failed, 3 skipped (not DICOM)"
    assert lines[1].endswith("(2 retries)")
    assert proxy.posts == 3
    assert searched_instances(base_url, study) == set(tree.instances.values())
