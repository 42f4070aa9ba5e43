"""Helpers for responses produced while they are sent.

Once the status line is out, a failure can only abort the connection, and a client cannot tell
an aborted 200 from a short one. So a response body is *primed*: its first piece is produced
(storage reached, first blob read) before the headers are sent, and an error there still becomes
a proper status. Reads ahead are bounded, so memory does not grow with the size of the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Answer:
    """A response ready to send: its body is primed, or None for a bodiless status (304)."""

    body: AsyncIterator[bytes] | None
    content_type: str | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


def multipart_type(part_type: str, boundary: str) -> str:
    return f'multipart/related; type="{part_type}"; boundary={boundary}'


async def once(data: bytes) -> AsyncIterator[bytes]:
    """A body of one piece, for content already in memory (a frame, an image)."""
    yield data


async def single_part(
    content_type: str, body: AsyncIterator[bytes]
) -> AsyncIterator[tuple[Mapping[str, str], AsyncIterator[bytes]]]:
    """One part for ``write_parts``."""
    yield {"Content-Type": content_type}, body


async def primed(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``body`` with its first non-empty piece already produced; errors so far are raised here."""
    first = b""
    async for piece in body:
        if piece:
            first = piece
            break

    async def rest() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            async for piece in body:
                yield piece
        finally:
            await _close(body)

    return rest()


async def _close(body: AsyncIterator[bytes]) -> None:
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


async def in_order(
    items: Iterable[T], fetch: Callable[[T], Awaitable[R]], *, ahead: int
) -> AsyncGenerator[R, None]:
    """``fetch(item)`` for each item, yielded in order, with up to ``ahead`` fetches in flight."""
    pending: deque[asyncio.Task[R]] = deque()
    source = iter(items)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < ahead:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.append(asyncio.ensure_future(fetch(item)))
            if not pending:
                return
            yield await pending.popleft()
    finally:
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                await task
