"""A zip archive (APPNOTE 6.3, ZIP64 included) written while it is sent, by the standard library.

``zipfile`` writes to a sink that can neither seek nor tell: it then flags each entry as followed
by a data descriptor, so the CRC-32 and sizes come after the entry's bytes and nothing is written
twice. Entries are stored, not deflated: DICOM files go out as they are (their pixel data is
mostly compressed already), and each chunk passes through as the same bytes object. Memory holds
one chunk and the central directory (one record per entry). ZIP64 is zipfile's own: an entry gets
64-bit sizes when its size, given up front, is near 4 GiB or unknown, and offsets or an archive
past 4 GiB get ZIP64 records in the central directory.
"""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime

FILE_MODE = 0o644
"""Unix permissions recorded for every entry: readable by all, as a download should be."""


@dataclass(frozen=True)
class ZipEntry:
    """One file of the archive: its name, bytes, size when known in advance and time."""

    name: str
    body: AsyncIterable[bytes]
    size: int | None
    """The exact byte count, or None (then the entry is written with ZIP64 sizes)."""
    modified: datetime


class _Sink:
    """What zipfile writes, held until the stream hands it on: no seek, no tell, no copy."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._pieces.append(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> list[bytes]:
        pieces, self._pieces = self._pieces, []
        return pieces


async def zip_stream(entries: AsyncIterable[ZipEntry]) -> AsyncIterator[bytes]:
    """The archive of ``entries`` in pieces: each entry's header, its chunks, its descriptor,
    then the central directory. An entry whose body is not the size it declared is an error."""
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED)
    async for entry in entries:
        info = zipfile.ZipInfo(entry.name, _date_time(entry.modified))
        info.external_attr = FILE_MODE << 16
        if entry.size is not None:
            info.file_size = entry.size
        written = 0
        with archive.open(info, "w", force_zip64=entry.size is None) as out:
            for piece in sink.take():
                yield piece
            async for chunk in entry.body:
                if chunk:
                    out.write(chunk)
                    written += len(chunk)
                    for piece in sink.take():
                        yield piece
            if entry.size is not None and written != entry.size:
                raise ValueError("a zip entry's body is not the size it declared")
        for piece in sink.take():
            yield piece
    archive.close()
    for piece in sink.take():
        yield piece


def _date_time(when: datetime) -> tuple[int, int, int, int, int, int]:
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)
