"""A TCP proxy that holds back each request by a fixed delay: storage as far away as in Azure.

In Azure every blob or Cosmos DB call takes milliseconds; against the local emulators it takes
microseconds, so storage round trips that stand one after another on a request's path cost
nothing measurable. Put between the host and an emulator, this proxy adds the cloud's round
trip back, so a benchmark shows how many of them each request waits for.

What counts as a request: the Cosmos DB emulator speaks HTTPS and the proxy sees only TLS
records, not HTTP messages. So the proxy delays each *burst* of client bytes that arrives while
the connection is idle in the client-to-server direction: the first bytes of a connection, and
the first bytes after the server has sent anything back. On a keep-alive HTTP/1.1 connection
(one request at a time, the next sent only after the answer) that is exactly one delay per
request, however many chunks its body takes. The approximation counts more than the HTTP
requests in three cases, each of which does cost a round trip in the cloud too: a TLS handshake
(one more burst per new connection with TLS 1.3, two with TLS 1.2), a request body sent after a
``100 Continue``, and a request the server answers before it has read all of the body. It
counts fewer only if a client pipelines requests, which neither SDK does. A connection's TCP
handshake is not delayed.

The proxy forwards bytes exactly as read, in chunks, both ways; the only work per chunk is one
flag test. Half-closes are passed on; a reset on either side ends both.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

LOOPBACK = "127.0.0.1"
CHUNK = 256 * 1024
CLOSE_TIMEOUT = 5.0


@dataclass
class Counts:
    """Connections accepted and bursts forwarded: client-to-server bursts are requests (each
    one delayed), server-to-client bursts the answers to them."""

    connections: int = 0
    requests: int = 0
    responses: int = 0

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            self.connections - other.connections,
            self.requests - other.requests,
            self.responses - other.responses,
        )


class _Turn:
    """Whose turn it is on one connection: a client burst after the server spoke (or at the
    start) is a new request."""

    def __init__(self) -> None:
        self.awaiting_answer = False


class LatencyProxy:
    """Listens on a free loopback port and forwards each connection to ``upstream_port``,
    each request held back by ``delay_ms`` (which may be changed while it runs)."""

    def __init__(self, delay_ms: float = 0.0, host: str = LOOPBACK) -> None:
        self.delay_ms = delay_ms
        self.host = host
        self._counts = Counts()
        self._server: asyncio.Server | None = None
        self._upstream_port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def counts(self) -> Counts:
        """A copy of the counts so far, safe to keep while the proxy goes on counting."""
        return replace(self._counts)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not listening")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, upstream_port: int) -> int:
        """Start listening; returns the port to connect to instead of ``upstream_port``."""
        self._upstream_port = upstream_port
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        return self.port

    async def close(self) -> None:
        """Stop listening and end every connection still open."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> LatencyProxy:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._counts.connections += 1
        try:
            upstream_r, upstream_w = await asyncio.open_connection(self.host, self._upstream_port)
        except OSError:
            self._tasks.discard(task)
            client_w.transport.abort()
            return
        turn = _Turn()
        try:
            await asyncio.gather(
                self._pump(client_r, upstream_w, client_w, turn, upstream=True),
                self._pump(upstream_r, client_w, upstream_w, turn, upstream=False),
            )
        finally:
            self._tasks.discard(task)
            for writer in (client_w, upstream_w):
                writer.close()

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        source_w: asyncio.StreamWriter,
        turn: _Turn,
        *,
        upstream: bool,
    ) -> None:
        """Copy one direction until end of stream, which is passed on as a half-close; on a
        reset, abort both sides so that the other direction ends too."""
        try:
            while chunk := await source.read(CHUNK):
                if upstream and not turn.awaiting_answer:
                    turn.awaiting_answer = True
                    self._counts.requests += 1
                    if self.delay_ms > 0:
                        await asyncio.sleep(self.delay_ms / 1000)
                elif not upstream and turn.awaiting_answer:
                    turn.awaiting_answer = False
                    self._counts.responses += 1
                sink.write(chunk)
                await sink.drain()
            if sink.can_write_eof() and not sink.is_closing():
                sink.write_eof()
        except OSError:
            sink.transport.abort()
            source_w.transport.abort()


@contextlib.contextmanager
def serving(routes: Sequence[tuple[LatencyProxy, int]]) -> Iterator[None]:
    """Each proxy listening in front of its upstream port, on an event loop of their own in a
    thread: the local stack starts synchronously and the benchmark runs its own
    ``asyncio.run``, and the proxies must serve through both."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="latency-proxies", daemon=True)
    thread.start()

    def call(coroutine: Coroutine[Any, Any, object]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, loop).result(CLOSE_TIMEOUT)

    try:
        for proxy, upstream_port in routes:
            call(proxy.start(upstream_port))
        yield
    finally:
        for proxy, _ in routes:
            call(proxy.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
