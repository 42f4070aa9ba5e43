"""Zip downloads (Supplement 211) through the local host: the tutorial's study, a series and an
instance as zip files, opened with ``zipfile`` and read with pydicom, byte for byte as stored;
names from the series and instance numbers; 404 and 406 as for multipart; a large study zipped
in bounded memory (the host's RSS is sampled while the answer streams)."""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import psutil
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from bench.common import BOUNDARY, CONTENT_TYPE, RssSampler, instance_chunks
from devhost.stack import LocalStack
from shared.config import DEFAULT_PARTITION
from shared.uid_index.keys import InstanceRef
from tests.data.builders import SERIES_1, SERIES_2, TUTORIAL, tutorial_file, with_fresh_uids
from tests.functions.retrieve_checks import store_all

pytestmark = pytest.mark.integration

ZIP = "application/zip"


@dataclass(frozen=True)
class Tutorial:
    study: str
    files: dict[str, bytes]
    """File bytes by the name the zip gives them."""
    red_series: str
    red_instance: str


@pytest.fixture(scope="module")
async def tutorial(base_url: str) -> Tutorial:
    study = generate_uid()
    series = {SERIES_1: generate_uid(), SERIES_2: generate_uid()}
    files = {}
    red = None
    for name, spec in TUTORIAL.items():
        data, ds = with_fresh_uids(
            tutorial_file(name), study_uid=study, series_uid=series[spec.series_uid]
        )
        files[f"{spec.series_number}-{spec.instance_number}.dcm"] = data
        if name == "red-triangle":
            red = ds
    assert red is not None
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        await store_all(http, list(files.values()))
    study_path = f"/v2/studies/{study}"
    series_path = f"{study_path}/series/{red.SeriesInstanceUID}"
    return Tutorial(study_path, files, series_path, f"{series_path}/instances/{red.SOPInstanceUID}")


def _opened(response: httpx.Response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == ZIP
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    return archive


def _contents(archive: zipfile.ZipFile) -> dict[str, bytes]:
    return {name: archive.read(name) for name in archive.namelist()}


async def test_a_study_as_zip_holds_its_files_as_stored(
    http: httpx.AsyncClient, tutorial: Tutorial
) -> None:
    response = await http.get(tutorial.study, headers={"accept": ZIP})
    archive = _opened(response)
    assert sorted(archive.namelist()) == ["1-1.dcm", "1-2.dcm", "2-1.dcm"]
    assert _contents(archive) == tutorial.files
    for name, data in _contents(archive).items():
        ds = dcmread(io.BytesIO(data))
        assert f"{ds.SeriesNumber}-{ds.InstanceNumber}.dcm" == name
        assert ds.pixel_array.shape == (ds.Rows, ds.Columns, 3)
    assert response.headers["content-disposition"] == 'attachment; filename="study.zip"'


async def test_the_accept_query_parameter_asks_for_a_zip_as_a_browser_link_does(
    http: httpx.AsyncClient, tutorial: Tutorial
) -> None:
    response = await http.get(tutorial.study, params={"accept": ZIP})
    assert _contents(_opened(response)) == tutorial.files
    # The parameter is tried before the header, which is the fallback (PS3.18 8.7.8.1).
    multipart = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    response = await http.get(tutorial.study, params={"accept": ZIP}, headers={"accept": multipart})
    assert _contents(_opened(response)) == tutorial.files
    response = await http.get(
        tutorial.study, params={"accept": "text/html"}, headers={"accept": ZIP}
    )
    assert _contents(_opened(response)) == tutorial.files
    response = await http.get(f"{tutorial.study}?accept={ZIP}&accept={ZIP}")
    assert response.status_code == 400


async def test_a_series_and_an_instance_as_zip(http: httpx.AsyncClient, tutorial: Tutorial) -> None:
    series = _opened(await http.get(tutorial.red_series, headers={"accept": ZIP}))
    assert _contents(series) == {n: tutorial.files[n] for n in ("1-1.dcm", "1-2.dcm")}
    instance = _opened(await http.get(tutorial.red_instance, headers={"accept": ZIP}))
    assert _contents(instance) == {"1-1.dcm": tutorial.files["1-1.dcm"]}


async def test_zip_is_chosen_by_weight_among_other_members(
    http: httpx.AsyncClient, tutorial: Tutorial
) -> None:
    accept = f'multipart/related; type="application/dicom"; transfer-syntax=*; q=0.5, {ZIP}'
    assert _contents(_opened(await http.get(tutorial.study, headers={"accept": accept}))) == (
        tutorial.files
    )
    accept = f'{ZIP}; q=0.5, multipart/related; type="application/dicom"; transfer-syntax=*'
    response = await http.get(tutorial.study, headers={"accept": accept})
    assert response.headers["content-type"].startswith("multipart/related")


async def test_a_zip_converted_to_a_named_syntax(
    http: httpx.AsyncClient, tutorial: Tutorial
) -> None:
    explicit = "1.2.840.10008.1.2.1"
    response = await http.get(
        tutorial.study, headers={"accept": f"{ZIP}; transfer-syntax={explicit}"}
    )
    for data in _contents(_opened(response)).values():
        assert dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID == explicit


async def test_unknown_resources_are_404_and_unmakeable_syntaxes_406(
    http: httpx.AsyncClient, tutorial: Tutorial
) -> None:
    response = await http.get(f"/v2/studies/{generate_uid()}", headers={"accept": ZIP})
    assert response.status_code == 404
    assert (
        await http.get(f"{tutorial.study}/series/{generate_uid()}", params={"accept": ZIP})
    ).status_code == 404
    big_endian = "1.2.840.10008.1.2.2"
    response = await http.get(
        tutorial.study, headers={"accept": f"{ZIP}; transfer-syntax={big_endian}"}
    )
    assert response.status_code == 406


FRAMES = 20  # 1024 x 1024 x 16 bit: 40 MiB an instance
INSTANCES = 2  # per request, under the test stack's request limit
REQUESTS = 3
GROWTH_LIMIT = 48 * 2**20
"""Most the host's RSS may grow while zipping 240 MiB: well under one file's size."""


async def _store_large(http: httpx.AsyncClient, study: str) -> dict[str, str]:
    """Store ``INSTANCES`` generated files; the SHA-256 of each by the zip name it gets."""
    sent: dict[str, str] = {}

    async def body() -> AsyncIterator[bytes]:
        for _ in range(INSTANCES):
            yield f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            digest = hashlib.sha256()
            head = None
            for chunk in instance_chunks(study, generate_uid(), FRAMES):
                head = head or chunk
                digest.update(chunk)
                yield chunk
            yield b"\r\n"
            ds = dcmread(io.BytesIO(head), stop_before_pixels=True)
            ref = InstanceRef.of(DEFAULT_PARTITION, study, ds.SeriesInstanceUID, ds.SOPInstanceUID)
            # No Series Number or Instance Number: named by the digests.
            sent[f"{ref.series.key}-{ref.key}.dcm"] = digest.hexdigest()
        yield f"--{BOUNDARY}--\r\n".encode()

    response = await http.post(
        "/v2/studies",
        content=body(),
        headers={"Content-Type": CONTENT_TYPE, "Accept": "application/dicom+json"},
    )
    assert response.status_code == 200, response.text
    return sent


async def test_a_large_study_is_zipped_in_bounded_memory(
    http: httpx.AsyncClient, stack: LocalStack
) -> None:
    study = generate_uid()
    sent: dict[str, str] = {}
    for _ in range(REQUESTS):
        sent.update(await _store_large(http, study))
    host = psutil.Process(stack.pids()["host"])
    with tempfile.TemporaryFile() as out:
        before = host.memory_info().rss
        with RssSampler(host.pid) as sampler:
            async with http.stream(
                "GET", f"/v2/studies/{study}", params={"accept": ZIP}
            ) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_raw():
                    out.write(chunk)
        assert sampler.peak - before < GROWTH_LIMIT, (before, sampler.peak)
        out.seek(0)
        archive = zipfile.ZipFile(out)
        assert sorted(archive.namelist()) == sorted(sent)
        for name in archive.namelist():
            digest = hashlib.sha256()
            with archive.open(name) as member:
                while chunk := member.read(2**20):
                    digest.update(chunk)
            assert digest.hexdigest() == sent[name], name
