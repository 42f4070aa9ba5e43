"""The streamed STOW body: exact length, and parts that read back as the files sent."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cli.sources import DicomFile
from cli.stow_body import SourceError, StowBody
from shared.web.media_types import parse_media_type
from shared.web.multipart import read_parts


def in_memory(name: str, data: bytes, size: int | None = None) -> DicomFile:
    return DicomFile(name, len(data) if size is None else size, None, lambda: io.BytesIO(data))


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def body_parts(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    async def once() -> AsyncIterator[bytes]:
        yield body

    return [
        (part.headers, await collect(part.chunks())) async for part in read_parts(once(), boundary)
    ]


@pytest.mark.parametrize("sizes", [[0], [1], [300_000, 5, 700_001], [262_144, 262_144]])
async def test_parts_read_back_as_the_files_and_the_length_is_exact(sizes: list[int]) -> None:
    contents = [bytes([i + 1]) * size for i, size in enumerate(sizes)]
    files = [in_memory(str(i), data) for i, data in enumerate(contents)]
    body = StowBody(files)
    sent = await collect(body.chunks())
    assert len(sent) == await body.length()
    media_type = parse_media_type(body.content_type)
    assert media_type.type == "multipart/related"
    assert media_type.params == {"type": "application/dicom", "boundary": body.boundary}
    parts = await body_parts(sent, body.boundary)
    assert [data for _, data in parts] == contents
    assert all(headers["content-type"] == "application/dicom" for headers, _ in parts)


async def test_each_attempt_reads_the_files_afresh(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    body = StowBody([DicomFile(str(path), 3, None, lambda: path.open("rb"))])
    assert await collect(body.chunks()) == await collect(body.chunks())


@pytest.mark.parametrize("size", [2, 4])
async def test_a_file_whose_length_changed_is_an_error(size: int) -> None:
    body = StowBody([in_memory("grew-or-shrank", b"abc", size)])
    with pytest.raises(SourceError, match="grew-or-shrank changed"):
        await collect(body.chunks())


async def test_a_file_gone_since_the_scan_is_an_error(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    body = StowBody([DicomFile(str(gone), 3, None, lambda: gone.open("rb"))])
    with pytest.raises(SourceError, match=r"cannot read .*gone"):
        await collect(body.chunks())
