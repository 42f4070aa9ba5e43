"""Time bounds on reading a request body: a pause or a body that takes too long ends in 408."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import RequestTimeout
from shared.web.body_deadline import BodyDeadline, within_deadline

seconds = st.floats(0, 1e6, allow_nan=False)


@given(idle=seconds, total=seconds, started=seconds, elapsed=seconds)
def test_the_wait_never_exceeds_either_bound(
    idle: float, total: float, started: float, elapsed: float
) -> None:
    wait = BodyDeadline(idle, total).wait_for_next(started, started + elapsed)
    assert 0 <= wait <= idle
    assert wait <= max(0.0, total - elapsed) + 1e-6


async def chunks(count: int | None, pause: float) -> AsyncIterator[bytes]:
    """`count` chunks (None: without end), `pause` seconds apart."""
    sent = 0
    while count is None or sent < count:
        await asyncio.sleep(pause)
        sent += 1
        yield b"x"


async def read_all(body: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in body])


async def test_a_body_within_its_bounds_arrives_whole() -> None:
    body = within_deadline(chunks(5, 0), BodyDeadline(idle_seconds=10, total_seconds=10))
    assert await read_all(body) == b"xxxxx"


async def test_a_pause_longer_than_the_idle_bound_is_a_408() -> None:
    body = within_deadline(chunks(2, 30), BodyDeadline(idle_seconds=0.05, total_seconds=60))
    with pytest.raises(RequestTimeout) as timeout:
        await read_all(body)
    assert timeout.value.status == 408


async def test_a_trickle_is_cut_off_by_the_overall_bound() -> None:
    body = within_deadline(chunks(None, 0.01), BodyDeadline(idle_seconds=60, total_seconds=0.2))
    with pytest.raises(RequestTimeout):
        await read_all(body)


async def test_the_overall_bound_counts_from_the_first_read() -> None:
    now = [100.0]
    body = within_deadline(chunks(3, 0), BodyDeadline(10, 5), clock=lambda: now[0])
    assert await anext(body) == b"x"
    now[0] += 6
    with pytest.raises(RequestTimeout):
        await anext(body)
