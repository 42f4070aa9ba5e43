"""Helpers for retrieve tests: storing instances and reading multipart answers."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import httpx
import numpy as np
from pydicom import dcmread

from shared.web.media_types import parse_media_type
from shared.web.multipart import read_parts
from tests.data.builders import multipart
from tests.functions.test_store import post, stored_uids

EXPLICIT = "1.2.840.10008.1.2.1"


async def store_all(http: httpx.AsyncClient, files: list[bytes], path: str = "/v2/studies") -> None:
    response = await post(http, multipart(files), path=path)
    assert response.status_code in (200, 202), response.text
    assert len(stored_uids(response)) == len(files)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def parts_of(response: httpx.Response) -> list[tuple[str, bytes]]:
    """The (Content-Type, body) of every part of a multipart/related response."""
    content_type = parse_media_type(response.headers["content-type"])
    assert content_type.type == "multipart/related"
    boundary = content_type.param("boundary")
    assert boundary is not None
    assert response.content.startswith(f"--{boundary}\r\n".encode())
    found = []
    async for part in read_parts(_once(response.content), boundary):
        body = b"".join([chunk async for chunk in part.chunks()])
        header_block = f"Content-Type: {part.headers.get('content-type', '')}"
        assert len(header_block) < 1000
        found.append((part.headers.get("content-type", ""), body))
    return found


def pixels(data: bytes) -> np.ndarray:
    """The decoded pixel array in native byte order, so arrays from any syntax compare."""
    array = np.asarray(dcmread(io.BytesIO(data)).pixel_array)
    return array.astype(array.dtype.newbyteorder("="))


def syntax_of(data: bytes) -> str:
    return str(dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta.TransferSyntaxUID)
