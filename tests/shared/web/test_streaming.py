"""Primed bodies and bounded in-order fetching."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from shared.errors import NotFound
from shared.web.streaming import in_order, primed


async def _failing_first() -> AsyncIterator[bytes]:
    raise NotFound("gone")
    yield b""  # pragma: no cover


async def _pieces() -> AsyncIterator[bytes]:
    yield b""
    yield b"a"
    yield b"b"


async def test_primed_raises_before_the_body_is_handed_out() -> None:
    with pytest.raises(NotFound):
        await primed(_failing_first())


async def test_primed_keeps_every_piece() -> None:
    body = await primed(_pieces())
    assert [piece async for piece in body] == [b"a", b"b"]


async def test_in_order_keeps_order_and_bounds_what_is_in_flight() -> None:
    running = 0
    most = 0

    async def fetch(n: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001 * (10 - n))
        running -= 1
        return n * n

    assert [r async for r in in_order(range(10), fetch, ahead=3)] == [n * n for n in range(10)]
    assert most == 3


async def test_in_order_cancels_what_is_left_when_the_consumer_stops() -> None:
    started: list[int] = []

    async def fetch(n: int) -> int:
        started.append(n)
        await asyncio.sleep(0.01)
        return n

    results = in_order(range(100), fetch, ahead=4)
    assert await anext(results) == 0
    await results.aclose()
    assert len(started) <= 5
