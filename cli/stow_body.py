"""The multipart/related body of one STOW request, streamed from the files as it is sent.

Nothing of a batch is held in memory beyond one read chunk per request: each file is read as the
body reaches it (reads run in a worker thread, so the other requests keep flowing). The length is
known before the first byte, so the request carries a ``Content-Length``: a server can refuse an
oversized batch at once (413), and servers that take no chunked uploads still work.
"""

from __future__ import annotations

import asyncio
import zipfile
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import IO

from cli.sources import DicomFile
from shared.web.multipart import new_boundary, write_parts

CHUNK_BYTES = 256 * 1024
PART_HEADERS: Mapping[str, str] = {"Content-Type": "application/dicom"}

Part = tuple[Mapping[str, str], AsyncIterator[bytes]]


class SourceError(Exception):
    """A file could not be read while sending, or its length changed since the scan."""


# What reading a file or a zip member can raise: I/O, a damaged archive, a damaged stream.
READ_ERRORS = (OSError, zipfile.BadZipFile, zlib.error, EOFError)


async def _nothing() -> AsyncIterator[bytes]:
    """An empty part body (the ``yield`` makes this an async generator)."""
    return
    yield b""


async def _framing(count: int) -> AsyncIterator[Part]:
    for _ in range(count):
        yield PART_HEADERS, _nothing()


async def _read(stream: IO[bytes], file: DicomFile) -> bytes:
    try:
        return await asyncio.to_thread(stream.read, CHUNK_BYTES)
    except READ_ERRORS as exc:
        raise SourceError(f"cannot read {file.path} ({type(exc).__name__})") from exc


async def _contents(file: DicomFile) -> AsyncIterator[bytes]:
    try:
        stream = await asyncio.to_thread(file.open)
    except READ_ERRORS as exc:
        raise SourceError(f"cannot read {file.path} ({type(exc).__name__})") from exc
    try:
        sent = 0
        while chunk := await _read(stream, file):
            sent += len(chunk)
            if sent > file.size:
                break
            yield chunk
        if sent != file.size:
            raise SourceError(f"{file.path} changed while it was being imported")
    finally:
        stream.close()


async def _parts(files: Sequence[DicomFile]) -> AsyncIterator[Part]:
    for file in files:
        yield PART_HEADERS, _contents(file)


class StowBody:
    """A batch's body: its ``Content-Type`` and length, and fresh chunks for every attempt."""

    def __init__(self, files: Sequence[DicomFile], boundary: str | None = None) -> None:
        self.files = files
        self.boundary = boundary or new_boundary()
        self.content_type = f'multipart/related; type="application/dicom"; boundary={self.boundary}'

    async def length(self) -> int:
        """The framing as ``write_parts`` lays it out (measured on empty parts), plus the files."""
        framing = 0
        async for piece in write_parts(_framing(len(self.files)), self.boundary):
            framing += len(piece)
        return framing + sum(file.size for file in self.files)

    def chunks(self) -> AsyncIterator[bytes]:
        return write_parts(_parts(self.files), self.boundary)
