"""``python -m cli download``: a study from the service (as a zip) and from Orthanc (which answers
multipart), written as files byte for byte as stored, under the same names from both."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

import cli.__main__ as cli_main
from cli.download import DownloadError, download_study
from devhost.orthanc import DICOMWEB_ROOT, running_orthanc
from tests.data.builders import SERIES_1, SERIES_2, TUTORIAL, tutorial_file, with_fresh_uids
from tests.functions.retrieve_checks import store_all

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Study:
    uid: str
    files: dict[str, bytes]
    """Each file's bytes by the name a download gives it."""


def _tutorial_study() -> Study:
    uid = generate_uid()
    series = {SERIES_1: generate_uid(), SERIES_2: generate_uid()}
    files = {}
    for name, spec in TUTORIAL.items():
        data, _ = with_fresh_uids(
            tutorial_file(name), study_uid=uid, series_uid=series[spec.series_uid]
        )
        files[f"{spec.series_number}-{spec.instance_number}.dcm"] = data
    return Study(uid, files)


@pytest.fixture(scope="module")
async def ours(base_url: str) -> Study:
    study = _tutorial_study()
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        await store_all(http, list(study.files.values()))
    return study


@pytest.fixture(scope="module")
def orthanc_url() -> Iterator[str]:
    with running_orthanc(name="download") as url:
        yield url


def _written(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


async def test_a_study_of_the_service_comes_as_a_zip(
    base_url: str, ours: Study, tmp_path: Path
) -> None:
    seen: list[tuple[int, int | None, int | None]] = []

    def progress(stage: str, done: int, total: int | None, nbytes: int | None) -> None:
        assert stage == "download"
        seen.append((done, total, nbytes))

    async with httpx.AsyncClient(timeout=120) as http:
        done = await download_study(http, f"{base_url}/v2", ours.uid, tmp_path / "out", progress)
    assert done.packaging == "zip"
    assert done.files == 3
    assert _written(tmp_path / "out") == ours.files
    assert seen[-1] == (3, 3, done.bytes_received)
    assert all(b is not None and b > 0 for _, _, b in seen)


async def test_a_study_of_orthanc_comes_as_multipart_under_the_same_names(
    orthanc_url: str, tmp_path: Path
) -> None:
    study = _tutorial_study()
    async with httpx.AsyncClient(base_url=orthanc_url, timeout=120) as orthanc:
        for data in study.files.values():
            upload = await orthanc.post("/instances", content=data)
            assert upload.status_code == 200, upload.text
    async with httpx.AsyncClient(timeout=120) as http:
        done = await download_study(http, f"{orthanc_url}{DICOMWEB_ROOT}", study.uid, tmp_path)
    assert done.packaging == "multipart"
    assert _written(tmp_path) == study.files


async def test_an_unknown_study_is_named_as_missing(base_url: str, tmp_path: Path) -> None:
    async with httpx.AsyncClient(timeout=120) as http:
        with pytest.raises(DownloadError, match="no such study"):
            await download_study(http, f"{base_url}/v2", generate_uid(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_command_writes_the_files_and_says_what_it_did(
    base_url: str, ours: Study, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "study"
    args = ["download", ours.uid, "--out", str(out), "--url", f"{base_url}/v2"]
    assert cli_main.main(args) == 0
    assert _written(out) == ours.files
    printed = capsys.readouterr()
    assert printed.out.startswith(f"3 files written to {out} (")
    assert printed.out.rstrip().endswith("received as zip)")
    assert printed.err.startswith("download: ")
    for data in _written(out).values():
        assert dcmread(io.BytesIO(data)).StudyInstanceUID == ours.uid


def test_the_command_fails_on_an_unknown_study(
    base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["download", generate_uid(), "--out", str(tmp_path), "--url", f"{base_url}/v2"]
    assert cli_main.main(args) == 1
    assert "no such study" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["download", "1.2.3"], "give the server's base URL with --url BASE, or --local"),
        (["download", "not-a-uid", "--url", "http://127.0.0.1:9/v2"], "STUDY must be a UID"),
        (["download", "1.2.3", "--url", "ftp://host"], "--url must be an http:// or https://"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert cli_main.main(args) == 2
    assert message in capsys.readouterr().err
