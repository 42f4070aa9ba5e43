"""The whole real-file corpus through the stack, with pydicom as the oracle.

Every corpus file (tests/data/corpus.py) is stored on its own, a few at a time, then read back
every way a viewer or an archive would: as stored, its metadata, its first and last frames,
decoded to Explicit VR Little Endian (single-part and multipart), rendered, and found by QIDO.
The files pydicom cannot decode and the ones the service refuses are listed, each with why.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames, get_frame
from pydicom.pixels import get_decoder
from pydicom.uid import UID, generate_uid

from tests.data.builders import with_fresh_uids
from tests.data.corpus import (
    BEYOND_PYDICOM_JSON,
    REFUSED,
    UNDECODABLE,
    WARNED,
    CorpusFile,
    corpus,
    reidentified,
)
from tests.functions.dicom_json_match import json_differences, oracle_json
from tests.functions.retrieve_checks import EXPLICIT, parts_of, pixels, store_all, syntax_of
from tests.functions.test_store import DICOM_JSON, failures, post

pytestmark = pytest.mark.integration

CLIENTS = 4
"""Requests in flight at once: enough to keep the host's two cores busy."""

# Lossy syntaxes decode a little differently from one decoder call to the next colour path.
LOSSY_TOLERANCE = 2


@dataclass(frozen=True)
class Stored:
    source: CorpusFile
    data: bytes
    ds: Dataset
    status: int
    failures: list[int]
    warnings: list[str]

    @property
    def path(self) -> str:
        ds = self.ds
        return (
            f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}"
        )

    @property
    def has_pixels(self) -> bool:
        return "PixelData" in self.ds

    @property
    def decodable(self) -> bool:
        return self.has_pixels and self.source.name not in UNDECODABLE


async def each(items: Iterable[Stored], check: Callable[[Stored], Awaitable[str | None]]) -> None:
    """``check`` on every item, ``CLIENTS`` at a time; fails naming every file that failed."""
    gate = asyncio.Semaphore(CLIENTS)

    async def run(item: Stored) -> tuple[str, str | None]:
        async with gate:
            return item.source.name, await check(item)

    results = await asyncio.gather(*(run(item) for item in items))
    failed = [f"{name}: {problem}" for name, problem in results if problem is not None]
    if failed:
        pytest.fail(f"{len(failed)} files failed:\n" + "\n".join(failed), pytrace=False)


def warnings(response: httpx.Response) -> list[str]:
    """The warning comments of the stored instance in a STOW answer."""
    stored = response.json().get("00081199", {}).get("Value", [{}])
    comments = stored[0].get("00741048", {}).get("Value", [])
    return [comment["00000902"]["Value"][0] for comment in comments]


@pytest.fixture(scope="module")
async def stored(base_url: str) -> list[Stored]:
    """Every corpus file, stored one per request."""
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        gate = asyncio.Semaphore(CLIENTS)

        async def store(source: CorpusFile) -> Stored:
            data, ds = reidentified(source)
            async with gate:
                response = await post(http, data, content_type="application/dicom")
            return Stored(
                source, data, ds, response.status_code, failures(response), warnings(response)
            )

        return list(await asyncio.gather(*(store(source) for source in corpus())))


@pytest.fixture(scope="module")
def accepted(stored: list[Stored]) -> list[Stored]:
    return [item for item in stored if item.source.name not in REFUSED]


@pytest.fixture(scope="module")
def decoded(accepted: list[Stored]) -> dict[str, np.ndarray]:
    """pydicom's pixels of every decodable file, by name, decoded once for all checks."""
    return {item.source.name: pixels(item.data) for item in accepted if item.decodable}


def test_the_corpus_is_every_readable_file() -> None:
    names = {f.name for f in corpus()}
    assert len(names) >= 200
    assert set(REFUSED) <= names
    assert set(UNDECODABLE) <= names


def test_undecodable_files_are_undecodable_by_pydicom() -> None:
    for source in corpus():
        if source.name in UNDECODABLE:
            with pytest.raises(Exception):  # noqa: B017 - whatever pydicom raises
                _ = source.read().pixel_array


def test_each_file_is_stored_or_refused_as_listed(stored: list[Stored]) -> None:
    outcomes = {item.source.name: (item.status, item.failures, item.warnings) for item in stored}
    expected = {
        item.source.name: (409, [REFUSED[item.source.name]], [])
        if item.source.name in REFUSED
        else (202, [], WARNED[item.source.name])
        if item.source.name in WARNED
        else (200, [], [])
        for item in stored
    }
    wrong = [f"{n}: {o}, not {expected[n]}" for n, o in outcomes.items() if o != expected[n]]
    assert wrong == [], "\n".join(wrong)


async def test_as_stored_is_byte_identical(http: httpx.AsyncClient, accepted: list[Stored]) -> None:
    async def check(item: Stored) -> str | None:
        response = await http.get(
            item.path, headers={"accept": "application/dicom; transfer-syntax=*"}
        )
        if response.status_code != 200:
            return f"{response.status_code}"
        return None if response.content == item.data else "bytes differ"

    await each(accepted, check)


async def test_metadata_is_pydicoms_json(http: httpx.AsyncClient, accepted: list[Stored]) -> None:
    async def check(item: Stored) -> str | None:
        response = await http.get(f"{item.path}/metadata", headers={"accept": DICOM_JSON})
        if response.status_code != 200:
            return f"{response.status_code}"
        (got,) = response.json()
        expected = oracle_json(item.ds, BEYOND_PYDICOM_JSON.get(item.source.name))
        differences = json_differences(expected, got)
        return "; ".join(differences[:5]) if differences else None

    await each(accepted, check)


def frame_count(ds: Dataset) -> int:
    return int(ds.get("NumberOfFrames") or 1)


def stored_frame(ds: Dataset, index: int) -> bytes:
    """Frame ``index`` (0-based) as pydicom extracts it from the file in its own syntax."""
    syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    if syntax.is_encapsulated:
        return get_frame(ds.PixelData, index, number_of_frames=frame_count(ds))
    buffer, _ = get_decoder(syntax).as_buffer(ds, index=index)
    return bytes(buffer)


async def test_first_and_last_frames_as_stored(
    http: httpx.AsyncClient, accepted: list[Stored]
) -> None:
    accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'

    async def check(item: Stored) -> str | None:
        ds = dcmread(io.BytesIO(item.data))
        last = frame_count(ds)
        response = await http.get(f"{item.path}/frames/1,{last}", headers={"accept": accept})
        if response.status_code != 200:
            return f"{response.status_code}"
        bodies = [body for _, body in await parts_of(response)]
        expected = [stored_frame(ds, 0), stored_frame(ds, last - 1)]
        if bodies != expected:
            return f"frames of {[len(b) for b in bodies]} bytes, not {[len(b) for b in expected]}"
        return None

    # badVR.dcm's Number of Frames is "1A", so pydicom cannot tell where its frames lie.
    framed = [item for item in accepted if item.has_pixels and item.source.name != "badVR.dcm"]
    await each(framed, check)


def _is_lossy(syntax: str) -> bool:
    return syntax in {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.91"}


def _pixel_problem(body: bytes, item: Stored, expected: np.ndarray) -> str | None:
    if syntax_of(body) != EXPLICIT:
        return f"answered in {syntax_of(body)}"
    got = pixels(body)
    if got.shape != expected.shape:
        return f"shape {got.shape}, not {expected.shape}"
    tolerance = LOSSY_TOLERANCE if _is_lossy(syntax_of(item.data)) else 0
    worst = int(np.max(np.abs(got.astype(np.int64) - expected.astype(np.int64)), initial=0))
    return None if worst <= tolerance else f"pixels differ by up to {worst}"


async def test_explicit_vr_little_endian_keeps_pixels(
    http: httpx.AsyncClient, accepted: list[Stored], decoded: dict[str, np.ndarray]
) -> None:
    single = f"application/dicom; transfer-syntax={EXPLICIT}"
    multi = f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT}'

    async def check(item: Stored) -> str | None:
        expected = decoded[item.source.name]
        response = await http.get(item.path, headers={"accept": single})
        if response.status_code != 200:
            return f"single-part {response.status_code}"
        problem = await asyncio.to_thread(_pixel_problem, response.content, item, expected)
        if problem is not None:
            return f"single-part {problem}"
        single_body = response.content
        response = await http.get(item.path, headers={"accept": multi})
        if response.status_code != 200:
            return f"multipart {response.status_code}"
        ((_, body),) = await parts_of(response)
        # The same conversion either way, so the same bytes: no second decode to compare.
        return None if body == single_body else "multipart differs from single-part"

    await each([item for item in accepted if item.decodable], check)


async def test_images_are_rendered(http: httpx.AsyncClient, accepted: list[Stored]) -> None:
    async def check(item: Stored) -> str | None:
        response = await http.get(f"{item.path}/rendered", headers={"accept": "image/jpeg"})
        if response.status_code != 200 or response.headers["content-type"] != "image/jpeg":
            return f"{response.status_code} {response.headers.get('content-type')}"
        return None

    await each([item for item in accepted if item.decodable], check)


async def test_each_instance_is_found_by_qido(
    http: httpx.AsyncClient, accepted: list[Stored]
) -> None:
    async def check(item: Stored) -> str | None:
        response = await http.get(
            f"/v2/studies/{item.ds.StudyInstanceUID}/instances", headers={"accept": DICOM_JSON}
        )
        if response.status_code != 200:
            return f"{response.status_code}"
        found = [match["00080018"]["Value"][0] for match in response.json()]
        return None if found == [str(item.ds.SOPInstanceUID)] else f"found {found}"

    await each(accepted, check)


def _client(base_url: str) -> DICOMwebClient:
    return DICOMwebClient(url=f"{base_url}/v2")


async def test_dicomweb_client_retrieves(base_url: str, http: httpx.AsyncClient) -> None:
    study = generate_uid()
    made = [
        with_fresh_uids(name, study_uid=study)
        for name in ("examples_ybr_color.dcm", "CT_small.dcm", "MR_small_bigendian.dcm")
    ]
    await store_all(http, [data for data, _ in made])
    files: dict[str, Any] = {str(ds.SOPInstanceUID): data for data, ds in made}
    client = _client(base_url)
    multiframe = dcmread(io.BytesIO(made[0][0]))
    series_uid = str(multiframe.SeriesInstanceUID)
    sop_uid = str(multiframe.SOPInstanceUID)

    def run() -> None:
        instances = client.retrieve_study(study)
        assert sorted(str(ds.SOPInstanceUID) for ds in instances) == sorted(files)
        series = client.retrieve_series(study, series_uid)
        assert [str(ds.SOPInstanceUID) for ds in series] == [sop_uid]
        instance = client.retrieve_instance(study, series_uid, sop_uid)
        assert instance.file_meta.TransferSyntaxUID == multiframe.file_meta.TransferSyntaxUID
        explicit = client.retrieve_instance(
            study, series_uid, sop_uid, media_types=(("application/dicom", EXPLICIT),)
        )
        assert explicit.file_meta.TransferSyntaxUID == EXPLICIT
        assert np.array_equal(explicit.pixel_array, multiframe.pixel_array)
        frames = list(generate_frames(multiframe.PixelData, number_of_frames=30))
        as_stored = client.retrieve_instance_frames(study, series_uid, sop_uid, [5, 2])
        assert as_stored == [frames[4], frames[1]]
        raw = client.retrieve_instance_frames(
            study,
            series_uid,
            sop_uid,
            [3],
            media_types=(("application/octet-stream", "*"),),
        )
        assert raw == [frames[2]]
        uncompressed = client.retrieve_instance_frames(
            study, series_uid, sop_uid, [3], media_types=("application/octet-stream",)
        )
        assert uncompressed == [multiframe.pixel_array[2].tobytes()]
        metadata = client.retrieve_study_metadata(study)
        assert len(metadata) == len(files)
        assert len(client.retrieve_series_metadata(study, series_uid)) == 1
        instance_metadata = client.retrieve_instance_metadata(study, series_uid, sop_uid)
        assert instance_metadata["00080018"]["Value"] == [sop_uid]

    await asyncio.to_thread(run)


async def test_study_as_stored_and_in_explicit_vr_little_endian(
    http: httpx.AsyncClient,
) -> None:
    """A study of several syntaxes in one multipart answer: each part as stored, or converted."""
    study = generate_uid()
    names = ("CT_small.dcm", "MR_small_RLE.dcm", "emri_small_big_endian.dcm", "JPEG-LL.dcm")
    made = [with_fresh_uids(name, study_uid=study) for name in names]
    await store_all(http, [data for data, _ in made])
    files = {str(ds.SOPInstanceUID): data for data, ds in made}

    def sop(data: bytes) -> str:
        return str(dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)

    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    response = await http.get(f"/v2/studies/{study}", headers={"accept": accept})
    assert response.status_code == 200, response.text
    assert {sop(body): body for _, body in await parts_of(response)} == files
    accept = f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT}'
    response = await http.get(f"/v2/studies/{study}", headers={"accept": accept})
    assert response.status_code == 200, response.text
    parts = await parts_of(response)
    assert [t for t, _ in parts] == [f"application/dicom; transfer-syntax={EXPLICIT}"] * 4
    for _, body in parts:
        assert np.array_equal(pixels(body), pixels(files[sop(body)]))
