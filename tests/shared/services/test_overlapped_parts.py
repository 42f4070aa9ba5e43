"""Parts handled overlapping: in order, one body read at a time, bounded, failures where they
happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.services.overlapped_parts import overlapped


async def _chunks(name: str, count: int, log: list[str]) -> AsyncIterator[bytes]:
    for at in range(count):
        log.append(f"read {name}{at}")
        await asyncio.sleep(0)
        yield f"{name}{at}".encode()


async def _parts(
    sizes: list[int], log: list[str], broken_after: int | None = None
) -> AsyncIterator[AsyncIterator[bytes]]:
    for number, size in enumerate(sizes):
        if number == broken_after:
            raise ValueError("the body broke off")
        yield _chunks(str(number), size, log)


class Handler:
    """Reads its part whole, then waits some turns as a commit's round trip would; records how
    many ran at once."""

    def __init__(self, log: list[str], fail_on: str | None = None) -> None:
        self.log, self.fail_on = log, fail_on
        self.running = self.most = 0

    async def __call__(self, chunks: AsyncIterator[bytes]) -> bytes:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            data = b"".join([chunk async for chunk in chunks])
            for _ in range(10):
                await asyncio.sleep(0)
            if data.decode().startswith(str(self.fail_on)):
                raise RuntimeError(f"failed on {self.fail_on}")
            self.log.append(f"done {data.decode()[:1]}")
            return data
        finally:
            self.running -= 1


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 4), max_size=8), st.integers(1, 4))
def test_results_in_order_one_body_read_at_a_time(sizes: list[int], in_flight: int) -> None:
    log: list[str] = []
    handler = Handler(log)
    results, failure = asyncio.run(overlapped(_parts(sizes, log), handler, in_flight))
    assert failure is None
    assert results == [
        b"".join(f"{n}{at}".encode() for at in range(s)) for n, s in enumerate(sizes)
    ]
    reads = [entry.split()[1] for entry in log if entry.startswith("read ")]
    assert reads == [f"{n}{at}" for n, s in enumerate(sizes) for at in range(s)]
    assert handler.most <= in_flight


def test_the_next_part_is_read_while_the_previous_one_finishes() -> None:
    log: list[str] = []
    results, failure = asyncio.run(overlapped(_parts([2, 2], log), Handler(log), 4))
    assert failure is None and len(results) == 2
    assert log.index("read 10") < log.index("done 0")


def test_a_handler_failure_ends_the_request_where_it_happened() -> None:
    log: list[str] = []
    results, failure = asyncio.run(
        overlapped(_parts([1, 1, 1, 1, 1, 1], log), Handler(log, fail_on="1"), 1)
    )
    assert results == [b"00"]
    assert isinstance(failure, RuntimeError) and str(failure) == "failed on 1"
    assert "read 30" not in log


def test_a_body_that_breaks_off_comes_after_the_parts_before_it() -> None:
    log: list[str] = []
    results, failure = asyncio.run(
        overlapped(_parts([1, 1, 1], log, broken_after=2), Handler(log), 4)
    )
    assert results == [b"00", b"10"]
    assert isinstance(failure, ValueError)


async def test_cancelled_handlers_end_with_the_request() -> None:
    started = asyncio.Event()

    async def forever(chunks: AsyncIterator[bytes]) -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(overlapped(_parts([1], []), forever, 2))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
