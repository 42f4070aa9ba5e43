"""Importing files into a DICOMweb server: scan, batch, store concurrently, tally.

The scan runs in a worker thread one step at a time and feeds a bounded queue, so the first
requests go out while the folders are still being walked, and a huge tree is never held in
memory: only ``concurrency`` batches wait at any time. ``concurrency`` requests are in flight at
once, each streaming its files from disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cli.batching import DEFAULT_BATCH, DEFAULT_BATCH_BYTES, Batch, batched
from cli.import_tally import Tally
from cli.retry import RetryPolicy
from cli.sources import Rejected, Scanner
from cli.stow_client import StowClient

DEFAULT_CONCURRENCY = 4
# Connecting should be quick; a large batch may take the server a while to answer.
TIMEOUT = httpx.Timeout(300.0, connect=15.0)

Progress = Callable[[str, int, int | None, int | None], None]


@dataclass(frozen=True)
class ImportOptions:
    base_url: str
    token: str | None = None
    batch: int = DEFAULT_BATCH
    batch_bytes: int = DEFAULT_BATCH_BYTES
    concurrency: int = DEFAULT_CONCURRENCY
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def _next(plan: Iterator[Batch | Rejected]) -> Batch | Rejected | None:
    return next(plan, None)


async def import_paths(
    paths: Sequence[Path], options: ImportOptions, progress: Progress | None = None
) -> Tally:
    """Store every DICOM file under ``paths``; the tally holds one record per file seen."""
    tally = Tally()
    scanner = Scanner(paths)
    plan = batched(scanner.scan(), options.batch, options.batch_bytes)
    queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=options.concurrency)
    headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
    limits = httpx.Limits(max_connections=options.concurrency)

    def report() -> None:
        if progress is not None:
            progress("import", tally.done, tally.total, tally.sent_bytes)

    async def scan() -> None:
        while (item := await asyncio.to_thread(_next, plan)) is not None:
            if isinstance(item, Rejected):
                tally.rejected(item)
            else:
                tally.found += len(item)
                await queue.put(item)
        tally.total = tally.found
        # One end mark per sender. Should the scan fail instead, the task group cancels them.
        for _ in range(options.concurrency):
            await queue.put(None)

    async def send(client: StowClient) -> None:
        while (batch := await queue.get()) is not None:
            tally.sent(batch, await client.store(batch))
            tally.retries = client.retries
            report()

    try:
        async with httpx.AsyncClient(headers=headers, timeout=TIMEOUT, limits=limits) as http:
            client = StowClient(http, options.base_url, options.retry)
            async with asyncio.TaskGroup() as group:
                group.create_task(scan())
                for _ in range(options.concurrency):
                    group.create_task(send(client))
    finally:
        scanner.close()
    tally.finish()
    report()
    return tally
