"""Blob Storage access: streamed block uploads, small writes, ranged reads, listing, deletes.

Large files are written as they arrive: the writer stages fixed-size blocks with a few uploads in
flight and commits the block list at the end, so memory stays at a few blocks whatever the file
size, and nothing is visible under the blob's name until the commit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, ContentSettings
from azure.storage.blob.aio import ContainerClient

from shared.storage.errors import (
    StorageUnavailable,
    StoredFileMissing,
    unavailable_as_storage_error,
)

BLOCK_SIZE = 4 * 1024 * 1024
MAX_IN_FLIGHT = 3
DELETE_CONCURRENCY = 16
READ_CHUNK_SIZE = 4 * 1024 * 1024


class StagedBlobWriter:
    """Writes one block blob from a stream of chunks with bounded memory.

    ``before_staging`` is awaited once, before the first block is staged: a blob that fits one
    block is sent by ``commit`` alone, and one that does not waits for it (the store's claim).
    """

    def __init__(
        self,
        container: ContainerClient,
        name: str,
        content_type: str,
        before_staging: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._blob = container.get_blob_client(name)
        self._content_type = content_type
        self._before_staging = before_staging
        self._buffer = bytearray()
        self._block_ids: list[str] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self.size = 0

    async def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        while len(self._buffer) >= BLOCK_SIZE:
            block = bytes(self._buffer[:BLOCK_SIZE])
            del self._buffer[:BLOCK_SIZE]
            await self._stage(block)

    async def _stage(self, block: bytes) -> None:
        if not self._block_ids and self._before_staging is not None:
            await self._before_staging()
        while len(self._in_flight) >= MAX_IN_FLIGHT:
            done, self._in_flight = await asyncio.wait(
                self._in_flight, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()
        block_id = base64.b64encode(f"{len(self._block_ids):010d}".encode()).decode()
        self._block_ids.append(block_id)
        self._in_flight.add(asyncio.create_task(self._stage_one(block_id, block)))

    async def _stage_one(self, block_id: str, block: bytes) -> None:
        with unavailable_as_storage_error():
            await self._blob.stage_block(block_id, block, length=len(block))

    @property
    def in_one_upload(self) -> bool:
        """Whether the blob, as written so far, goes to storage in the one request of ``commit``
        (nothing staged yet)."""
        return not self._block_ids

    async def commit(self) -> None:
        """Make the blob visible; a file that fits one block is written in a single request."""
        settings = ContentSettings(content_type=self._content_type)
        with unavailable_as_storage_error():
            if not self._block_ids:
                await self._blob.upload_blob(
                    bytes(self._buffer), overwrite=True, content_settings=settings
                )
                return
            if self._buffer:
                await self._stage(bytes(self._buffer))
                self._buffer.clear()
            for task in asyncio.as_completed(list(self._in_flight)):
                await task
            self._in_flight.clear()
            await self._blob.commit_block_list(
                [BlobBlock(block_id=b) for b in self._block_ids], content_settings=settings
            )

    async def abort(self) -> None:
        """Stop in-flight uploads; staged blocks that are never committed expire by themselves."""
        for task in self._in_flight:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._in_flight.clear()


class BlobStore:
    def __init__(self, container: ContainerClient) -> None:
        self.container = container

    def writer(
        self,
        name: str,
        content_type: str,
        before_staging: Callable[[], Awaitable[object]] | None = None,
    ) -> StagedBlobWriter:
        return StagedBlobWriter(self.container, name, content_type, before_staging)

    async def put(self, name: str, data: bytes, content_type: str) -> None:
        with unavailable_as_storage_error():
            await self.container.upload_blob(
                name,
                data,
                overwrite=True,
                content_settings=ContentSettings(content_type=content_type),
            )

    async def get(self, name: str) -> bytes | None:
        found = await self.get_tagged(name)
        return None if found is None else found[0]

    async def get_tagged(self, name: str) -> tuple[bytes, str] | None:
        """A small blob and its etag, for a later ``put_if``; None when there is none."""
        with unavailable_as_storage_error():
            try:
                stream = await self.container.download_blob(name)
            except ResourceNotFoundError:
                return None
            data: bytes = await stream.readall()
            return data, str(stream.properties.etag)

    async def put_if(
        self,
        name: str,
        data: bytes,
        content_type: str,
        etag: str | None,
        metadata: dict[str, str] | None = None,
    ) -> str | None:
        """Write ``name`` only if it is still as read (``etag``), or absent (None): the new
        etag, or None when another writer changed or created it first. ``metadata`` is what
        ``listed`` shows of the blob without reading it."""
        blob = self.container.get_blob_client(name)
        conditions: dict[str, Any] = {"overwrite": False}
        if etag is not None:
            conditions = {
                "overwrite": True,
                "etag": etag,
                "match_condition": MatchConditions.IfNotModified,
            }
        with unavailable_as_storage_error():
            try:
                written = await blob.upload_blob(
                    data,
                    content_settings=ContentSettings(content_type=content_type),
                    metadata=metadata,
                    **conditions,
                )
            except (ResourceExistsError, ResourceModifiedError):
                return None
        return str(written["etag"])

    async def exists(self, name: str) -> bool:
        with unavailable_as_storage_error():
            found: bool = await self.container.get_blob_client(name).exists()
            return found

    async def read_range(self, name: str, offset: int, length: int) -> bytes:
        """``length`` bytes of a blob from ``offset``: one frame or one chunk of a large file.

        A blob the index points at but that is gone (replaced meanwhile) is ``StoredFileMissing``.
        """
        if length <= 0:
            return b""
        with unavailable_as_storage_error():
            try:
                stream = await self.container.download_blob(name, offset=offset, length=length)
            except ResourceNotFoundError:
                raise StoredFileMissing() from None
            data: bytes = await stream.readall()
        if len(data) != length:
            raise StorageUnavailable("a stored file is shorter than its index says")
        return data

    async def chunks(
        self, name: str, offset: int, length: int, *, chunk_size: int = READ_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        """A byte range of a blob in ranged reads, the next read in flight while one is consumed.

        Each read is one request of at most ``chunk_size`` bytes, so a stream of any size holds
        two chunks at most; overlapping the next read with the consumer keeps throughput up.
        """
        ranges = [
            (at, min(chunk_size, offset + length - at))
            for at in range(offset, offset + length, chunk_size)
        ]
        pending: asyncio.Task[bytes] | None = None
        try:
            for index, (at, size) in enumerate(ranges):
                current = pending or asyncio.create_task(self.read_range(name, at, size))
                pending = None
                if index + 1 < len(ranges):
                    pending = asyncio.create_task(self.read_range(name, *ranges[index + 1]))
                yield await current
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    async def names(self, prefix: str | None = None) -> AsyncIterator[str]:
        with unavailable_as_storage_error():
            async for name in self.container.list_blob_names(name_starts_with=prefix):
                yield name

    async def listed(self, prefix: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
        """The blobs under ``prefix`` with their metadata, in one listing."""
        with unavailable_as_storage_error():
            async for blob in self.container.list_blobs(
                name_starts_with=prefix, include=["metadata"]
            ):
                yield blob.name, dict(blob.metadata or {})

    async def delete(self, names: Iterable[str]) -> None:
        """Delete blobs, ignoring those already gone (deletes are retried and may race).

        Deletes run a few at a time. (Blob batch requests would need fewer round trips, but
        Azurite answers them with 400, so they could not be tested locally.)
        """
        semaphore = asyncio.Semaphore(DELETE_CONCURRENCY)

        async def one(name: str) -> None:
            async with semaphore:
                with contextlib.suppress(ResourceNotFoundError):
                    await self.container.delete_blob(name)

        with unavailable_as_storage_error():
            results = await asyncio.gather(*(one(n) for n in names), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
