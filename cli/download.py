"""Downloading a study from any DICOMweb server into a folder, one Part 10 file per instance.

The study is asked for as a zip (``application/zip``, DICOM Supplement 211) and, where the server
does not offer one (it answers 406, 400 or 415, or sends multipart anyway), as multipart with
every instance as stored (``transfer-syntax=*``), which every WADO-RS server gives. Either way
the files are written exactly as the server sent them and named as the service names the
entries of its zips (``shared.services.file_names``): ``{series number}-{instance number}.dcm``,
so a study downloaded from two servers gives the same folder.

Nothing is held in memory whole: a zip is written to a temporary file beside its destination
(a zip can only be read from its central directory, at the end) and then extracted, each
multipart part goes straight to a file of its own. Files appear under their final names only
once complete, so an interrupted download leaves no half file under a real name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from cli.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from shared.config import DEFAULT_PARTITION
from shared.services.file_names import file_names
from shared.uid_index.keys import InstanceRef
from shared.web.media_types import parse_media_type
from shared.web.multipart import MultipartError, read_parts

ZIP = "application/zip"
MULTIPART = "multipart/related"
AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
NO_ZIP = frozenset({400, 406, 415})
"""Answers of a server that does not make zips: ask again for multipart."""
TIMEOUT = httpx.Timeout(300.0, connect=15.0)
COPY_CHUNK = 1024 * 1024

Progress = Callable[[str, int, int | None, int | None], None]


class DownloadError(Exception):
    """The study could not be downloaded; the message says why (never a UID or file content)."""


@dataclass(frozen=True)
class Downloaded:
    files: int
    bytes_received: int
    packaging: str
    """``zip`` or ``multipart``: what the server sent."""


@dataclass(frozen=True)
class _Numbered:
    ref: InstanceRef
    series_number: int | None
    instance_number: int | None


class _Counter:
    """What has arrived so far, reported as the progress line."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.files = 0
        self.bytes = 0

    def received(self, count: int) -> None:
        self.bytes += count
        self.report(None)

    def report(self, total: int | None) -> None:
        if self.progress is not None:
            self.progress("download", self.files, total, self.bytes)


async def download_study(
    http: httpx.AsyncClient,
    base_url: str,
    study_uid: str,
    out: Path,
    progress: Progress | None = None,
    policy: RetryPolicy | None = None,
) -> Downloaded:
    """Every instance of the study as a file in ``out`` (made if missing)."""
    url = f"{base_url.rstrip('/')}/studies/{study_uid}"
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    counter = _Counter(progress)
    retry = policy or RetryPolicy()
    for accept in (ZIP, AS_STORED):
        async with _answer(http, url, accept, retry) as response:
            if response.status_code in NO_ZIP and accept == ZIP:
                continue
            _check(response)
            kind = _kind(response)
            if kind == ZIP:
                await _save_zip(response, out, counter)
            else:
                await _save_parts(response, out, study_uid, counter)
        counter.report(counter.files)
        return Downloaded(counter.files, counter.bytes, "zip" if kind == ZIP else "multipart")
    raise DownloadError("the server answers neither a zip nor multipart for the study")


@contextlib.asynccontextmanager
async def _answer(
    http: httpx.AsyncClient, url: str, accept: str, policy: RetryPolicy
) -> AsyncIterator[httpx.Response]:
    """A streamed GET, sent again while the server is busy (429, 503 with Retry-After, ...)."""
    for attempt in range(1, policy.attempts + 1):
        request = http.build_request("GET", url, headers={"Accept": accept})
        response = await http.send(request, stream=True)
        if response.status_code in RETRY_STATUSES and attempt < policy.attempts:
            await response.aclose()
            wait = parse_retry_after(response.headers.get("retry-after"))
            await asyncio.sleep(policy.delay(attempt, wait, _JITTER))
            continue
        try:
            yield response
        finally:
            await response.aclose()
        return


_JITTER = random.Random()


def _check(response: httpx.Response) -> None:
    if response.status_code == 404:
        raise DownloadError("the server has no such study (404)")
    if response.status_code != 200:
        reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        raise DownloadError(f"the server refused the download: {reason}")


def _kind(response: httpx.Response) -> str:
    try:
        content_type = parse_media_type(response.headers.get("content-type", ""))
    except ValueError:
        raise DownloadError("the server's answer has no readable Content-Type") from None
    if content_type.type in (ZIP, MULTIPART):
        return content_type.type
    raise DownloadError(f"the server answered {content_type.type}, not a zip or multipart")


def _safe_name(name: str) -> str:
    """A zip entry's name as a file name in the folder: no folders, no way out of it."""
    if not name or name != os.path.basename(name) or "\\" in name or name.startswith("."):
        raise DownloadError("the zip holds an entry whose name is not a plain file name")
    return name


async def _save_zip(response: httpx.Response, out: Path, counter: _Counter) -> None:
    with tempfile.TemporaryFile(dir=out) as spool:
        async for chunk in response.aiter_raw():
            await asyncio.to_thread(spool.write, chunk)
            counter.received(len(chunk))
        await asyncio.to_thread(_extract, spool, out, counter)


def _extract(spool: IO[bytes], out: Path, counter: _Counter) -> None:
    try:
        archive = zipfile.ZipFile(spool)
    except zipfile.BadZipFile:
        raise DownloadError("the server's zip is not a readable zip file") from None
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            target = out / _safe_name(info.filename)
            partial = target.with_name(f".{target.name}.part")
            try:
                with archive.open(info) as member, partial.open("wb") as file:
                    shutil.copyfileobj(member, file, COPY_CHUNK)
            except zipfile.BadZipFile:
                partial.unlink(missing_ok=True)
                raise DownloadError("a file in the server's zip does not match its CRC") from None
            partial.replace(target)
            counter.files += 1
            counter.report(None)


async def _save_parts(
    response: httpx.Response, out: Path, study_uid: str, counter: _Counter
) -> None:
    boundary = parse_media_type(response.headers["content-type"]).param("boundary")
    if not boundary:
        raise DownloadError("the server's multipart answer names no boundary")
    saved: list[tuple[Path, _Numbered]] = []
    try:
        async for part in read_parts(_counted(response.aiter_raw(), counter), boundary):
            partial = out / f".part-{len(saved) + 1}"
            with partial.open("wb") as file:
                async for chunk in part.chunks():
                    await asyncio.to_thread(file.write, chunk)
            saved.append((partial, await asyncio.to_thread(_numbers, partial, study_uid)))
            counter.files += 1
            counter.report(None)
        names = file_names([numbered for _, numbered in saved])
        for (partial, _), name in zip(saved, names, strict=True):
            partial.replace(out / name)
    except MultipartError as exc:
        raise DownloadError(f"the server's multipart answer is malformed: {exc}") from None
    finally:
        for partial, _ in saved:
            partial.unlink(missing_ok=True)


async def _counted(chunks: AsyncIterator[bytes], counter: _Counter) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        counter.received(len(chunk))
        yield chunk


def _numbers(path: Path, study_uid: str) -> _Numbered:
    """The instance a file holds and its numbers, read from its header (pixels left unread)."""
    try:
        ds = dcmread(path, stop_before_pixels=True)
        series_uid, sop_uid = str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)
    except (InvalidDicomError, AttributeError, OSError, ValueError):
        raise DownloadError("the server sent a part that is not a DICOM instance") from None
    ref = InstanceRef.of(DEFAULT_PARTITION, study_uid, series_uid, sop_uid)
    return _Numbered(ref, _whole(ds.get("SeriesNumber")), _whole(ds.get("InstanceNumber")))


def _whole(value: object) -> int | None:
    """An IS value as the index keeps it: its first value as the whole number pydicom reads
    (``IS`` is an ``int``; "1.0" is 1), or None when absent, empty or not a number."""
    if isinstance(value, MultiValue):
        value = value[0] if len(value) else None
    return int(value) if isinstance(value, int) else None
