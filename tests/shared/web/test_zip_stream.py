"""The streamed zip: read back by the standard library's reader, byte for byte, ZIP64 included."""

from __future__ import annotations

import bisect
import io
import zipfile
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.web.zip_stream import ZipEntry, zip_stream

WHEN = datetime(2026, 3, 4, 5, 6, 8, tzinfo=UTC)


async def _chunks(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _entries(items: list[ZipEntry]) -> AsyncIterator[ZipEntry]:
    for item in items:
        yield item


async def _archive(items: list[ZipEntry]) -> bytes:
    return b"".join([piece async for piece in zip_stream(_entries(items))])


async def test_entries_read_back_as_written_with_their_names_and_times() -> None:
    items = [
        ZipEntry("1-1.dcm", _chunks([b"DICM", b"", b"rest"]), 8, WHEN),
        ZipEntry("1-2.dcm", _chunks([]), 0, WHEN),
        ZipEntry("2-1.dcm", _chunks([b"converted"]), None, WHEN),
    ]
    archive = zipfile.ZipFile(io.BytesIO(await _archive(items)))
    assert archive.testzip() is None
    assert archive.namelist() == ["1-1.dcm", "1-2.dcm", "2-1.dcm"]
    assert [archive.read(n) for n in archive.namelist()] == [b"DICMrest", b"", b"converted"]
    info = archive.getinfo("1-1.dcm")
    assert info.date_time == (2026, 3, 4, 5, 6, 8)
    assert info.compress_type == zipfile.ZIP_STORED
    assert info.external_attr >> 16 == 0o644


async def test_an_empty_archive_is_a_valid_zip() -> None:
    assert zipfile.ZipFile(io.BytesIO(await _archive([]))).namelist() == []


async def test_a_body_shorter_than_declared_is_an_error() -> None:
    with pytest.raises(ValueError, match="size"):
        await _archive([ZipEntry("a.dcm", _chunks([b"abc"]), 4, WHEN)])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(st.binary(max_size=300), max_size=5), st.booleans()),
        max_size=6,
    )
)
async def test_any_chunking_reads_back_byte_identical(
    files: list[tuple[list[bytes], bool]],
) -> None:
    items = [
        ZipEntry(f"{i}.dcm", _chunks(pieces), sum(map(len, pieces)) if sized else None, WHEN)
        for i, (pieces, sized) in enumerate(files)
    ]
    archive = zipfile.ZipFile(io.BytesIO(await _archive(items)))
    assert archive.testzip() is None
    assert [archive.read(f"{i}.dcm") for i in range(len(files))] == [
        b"".join(pieces) for pieces, _ in files
    ]


BLOCK = bytes(range(256)) * 4096
"""1 MiB: the large entry is this, repeated, so the test keeps one copy of it."""


class _Recorded(io.RawIOBase):
    """An archive kept as its header pieces plus runs of ``BLOCK``, read back by seeking.

    That is how a 4 GiB archive is checked with no more than a megabyte of it in memory.
    """

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.pieces: list[tuple[int, bytes | None]] = []  # (length, bytes; None for BLOCK runs)
        self.size = 0
        self.pos = 0

    def add(self, piece: bytes) -> None:
        if piece is BLOCK and self.pieces and self.pieces[-1][1] is None:
            length, _ = self.pieces[-1]
            self.pieces[-1] = (length + len(piece), None)
        else:
            self.starts.append(self.size)
            self.pieces.append((len(piece), None if piece is BLOCK else piece))
        self.size += len(piece)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self.pos < self.size:
            index = bisect.bisect_right(self.starts, self.pos) - 1
            start = self.starts[index]
            length, data = self.pieces[index]
            inside = self.pos - start
            count = min(len(view) - filled, length - inside)
            if data is None:
                offset = inside % len(BLOCK)
                count = min(count, len(BLOCK) - offset)
                view[filled : filled + count] = BLOCK[offset : offset + count]
            else:
                view[filled : filled + count] = data[inside : inside + count]
            filled += count
            self.pos += count
        return filled


async def test_past_4_gib_the_archive_is_zip64_and_still_reads() -> None:
    blocks = 4 * 1024 + 300  # 4.3 GiB: one entry larger than a 32-bit size, one after it
    large = ZipEntry("1-1.dcm", _chunks([BLOCK] * blocks), blocks * len(BLOCK), WHEN)
    small = ZipEntry("1-2.dcm", _chunks([b"after the large one"]), 19, WHEN)
    recorded = _Recorded()
    async for piece in zip_stream(_entries([large, small])):
        recorded.add(piece)
    assert recorded.size > 2**32
    archive = zipfile.ZipFile(io.BufferedReader(recorded))
    first, second = archive.infolist()
    assert first.file_size == blocks * len(BLOCK) > 2**32
    assert second.header_offset > 2**32
    assert archive.read("1-2.dcm") == b"after the large one"
    with archive.open("1-1.dcm") as member:
        assert member.read(len(BLOCK)) == BLOCK
