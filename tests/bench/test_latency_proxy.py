"""The latency proxy in front of a tiny request/answer server on loopback: bytes pass intact both
ways, each request waits the delay, each request on a keep-alive connection counts once, and
closing the proxy ends the connections it holds. No timing is bounded from above."""

from __future__ import annotations

import asyncio
import random
import struct
import time
from collections.abc import AsyncIterator

import pytest

from bench.latency_proxy import CHUNK, LOOPBACK, LatencyProxy

# Longer than a chunk the proxy reads, so a request and its answer take several each.
LARGE = 3 * CHUNK + 17


async def _answer_reversed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Each request is a 4-byte length and that many bytes; its answer, the bytes reversed."""
    try:
        while True:
            (length,) = struct.unpack("!I", await reader.readexactly(4))
            writer.write((await reader.readexactly(length))[::-1])
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def upstream() -> AsyncIterator[int]:
    server = await asyncio.start_server(_answer_reversed, LOOPBACK, 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> bytes:
    writer.write(struct.pack("!I", len(payload)) + payload)
    await writer.drain()
    return await reader.readexactly(len(payload))


def _payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


async def _connect(proxy: LatencyProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(LOOPBACK, proxy.port)


async def test_bytes_arrive_intact_both_ways(upstream: int) -> None:
    async with LatencyProxy() as proxy:
        await proxy.start(upstream)
        reader, writer = await _connect(proxy)
        payload = _payload(LARGE, seed=1)
        assert await _exchange(reader, writer, payload) == payload[::-1]
        writer.close()


async def test_a_delay_holds_back_each_round_trip(upstream: int) -> None:
    async with LatencyProxy(delay_ms=50) as proxy:
        await proxy.start(upstream)
        reader, writer = await _connect(proxy)
        for seed in range(2):
            started = time.perf_counter()
            await _exchange(reader, writer, _payload(100, seed))
            assert time.perf_counter() - started >= 0.050
        writer.close()


async def test_sequential_requests_on_one_connection_count_once_each(upstream: int) -> None:
    async with LatencyProxy(delay_ms=1) as proxy:
        await proxy.start(upstream)
        reader, writer = await _connect(proxy)
        for seed, size in enumerate((10, LARGE, 1)):
            payload = _payload(size, seed)
            assert await _exchange(reader, writer, payload) == payload[::-1]
        counts = proxy.counts
        writer.close()
    assert (counts.connections, counts.requests, counts.responses) == (1, 3, 3)


async def test_closing_the_proxy_ends_its_open_connections(upstream: int) -> None:
    proxy = LatencyProxy()
    await proxy.start(upstream)
    reader, writer = await _connect(proxy)
    await _exchange(reader, writer, b"open")
    await proxy.close()
    assert await reader.read() == b""
    writer.close()
