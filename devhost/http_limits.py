"""Limits on the request head (request line and header fields) of the local host.

Uvicorn's h11 protocol answers an oversized head with 400 and closes at once, while the client is
still sending, so the client mostly sees a connection reset; and it waits forever for a head that
trickles in. This protocol answers 431 Request Header Fields Too Large (RFC 6585) past a stated
size and 408 Request Timeout past a stated time, and then reads and discards what the client
still sends for a moment before closing, so that the client gets to read the answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# Request line and header fields together: room for a 16 KiB token (shared.auth.tokens) and the
# usual headers several times over, like the 32 KiB of ASP.NET Core's Kestrel.
DEFAULT_MAX_HEAD_BYTES = 64 * 1024
DEFAULT_HEAD_TIMEOUT_SECONDS = 30.0
# How long the refused client's remaining bytes are read and dropped before the socket closes.
LINGER_SECONDS = 2.0
_HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int = DEFAULT_MAX_HEAD_BYTES
    timeout_seconds: float = DEFAULT_HEAD_TIMEOUT_SECONDS


class HeadLimitedProtocol(H11Protocol):
    """Uvicorn's h11 protocol with a size and a time limit on each request head."""

    limits: ClassVar[HeadLimits] = HeadLimits()

    # H11Protocol narrows asyncio's BaseTransport to Transport, the type it is called with.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self.conn.their_state is h11.IDLE and self._head_size(data) > self.limits.max_bytes:
            self._refuse(431, "the request header fields are too large")
            return
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            self._arm_head_timer()
        else:
            self._cancel_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _head_size(self, data: bytes) -> int:
        """Bytes of the head received so far, or in all once it is complete."""
        buffered = self.conn.trailing_data[0] + data
        end = buffered.find(_HEAD_END)
        return len(buffered) if end < 0 else end + len(_HEAD_END)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.timeout_seconds, self._head_late)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._refuse(408, "the request header fields did not arrive in time")

    def _refuse(self, status: int, message: str) -> None:
        """Answer before any request was read, then drop what still comes and close."""
        self._refused = True
        self._cancel_head_timer()
        self.logger.info("Refused a request head with %d: %s", status, message)
        body = f"{message}\n".encode()
        headers = [
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", str(len(body))),
            ("connection", "close"),
        ]
        answer = h11.Connection(h11.SERVER)
        response = h11.Response(
            status_code=status, headers=headers, reason=HTTPStatus(status).phrase
        )
        for event in (response, h11.Data(data=body)):
            self.transport.write(answer.send(event) or b"")
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def protocol_with(limits: HeadLimits) -> type[HeadLimitedProtocol]:
    """The protocol class for uvicorn's `http=` setting, with these limits."""
    return type("HeadLimitedProtocol", (HeadLimitedProtocol,), {"limits": limits})
