"""The parts of one request handled overlapping: the next part is read while earlier ones commit.

A request's parts arrive one after the other on one body, so each must be read to its end before
the next begins; what comes after (the last blob writes, the commit) only waits on storage. Each
part's handler runs as a task, and the next part starts as soon as the previous one's bytes have
all been read (or its handler has finished without reading them), with at most ``in_flight``
handlers running. Results come back in the parts' order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def _noting_end(chunks: AsyncIterator[bytes], read: asyncio.Event) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk
    read.set()


async def _read_or_done(task: asyncio.Task[T], read: asyncio.Event) -> None:
    waiter = asyncio.create_task(read.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


async def overlapped(
    parts: AsyncIterator[AsyncIterator[bytes]],
    handle: Callable[[AsyncIterator[bytes]], Coroutine[Any, Any, T]],
    in_flight: int,
) -> tuple[list[T], Exception | None]:
    """Every part's result, in order, up to the first failure, and that failure (or None).

    A failure is a handler's, or reading the body's after every part before it was handled. No
    part is started after a handler has failed, and every handler started has ended when this
    returns; if this is cancelled, they are cancelled too.
    """
    tasks: list[asyncio.Task[T]] = []
    reading: Exception | None = None
    try:
        async for chunks in parts:
            read = asyncio.Event()
            task = asyncio.create_task(handle(_noting_end(chunks, read)))
            tasks.append(task)
            await _read_or_done(task, read)
            if task.done() and task.exception() is not None:
                break
            running = {t for t in tasks if not t.done()}
            while len(running) >= in_flight:
                _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            if any(t.done() and t.exception() is not None for t in tasks):
                break
    except Exception as exc:
        reading = exc
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    await asyncio.gather(*tasks, return_exceptions=True)
    results: list[T] = []
    for task in tasks:
        failure = task.exception()
        if failure is not None:
            if not isinstance(failure, Exception):
                raise failure
            return results, failure
        results.append(task.result())
    return results, reading
