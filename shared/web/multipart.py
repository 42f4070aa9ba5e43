"""Streaming multipart/related (RFC 2046 §5.1) for STOW-RS requests and retrieve responses.

The reader is written here rather than on python-multipart's ``MultipartParser`` because that
parser rejects two framings that RFC 2046 allows and clients send (a preamble other than blank
lines; transport padding after the first delimiter) and does not report a body that ends before
the close delimiter. Bodies are scanned with ``bytes.find``, one input chunk at a time, so a part of
any size passes through holding no more than a chunk, the delimiter length and the part headers.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from enum import Enum, auto

from shared.web.media_types import MediaType, parse_media_type

# RFC 2046 §5.1.1: 1 to 70 characters of bcharsnospace and space, not ending in a space.
_RFC2046_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# A request's boundary is read as senders write it (Orthanc joins two UUIDs: 73 characters), up to
# this many characters: enough for any sender seen, small enough to bound the delimiter search.
MAX_REQUEST_BOUNDARY = 256
_PRINTABLE_RE = re.compile(r"[ -~]*")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_END = b"\r\n\r\n"
# Transport padding longer than this is not padding anyone sends; the limit bounds the look-ahead.
_MAX_PADDING = 1024


class MultipartError(ValueError):
    """The body is not well-framed multipart; the message names the fault, never body bytes."""


def _request_boundary_bytes(boundary: str) -> bytes:
    """A request's boundary as bytes: any printable ASCII up to ``MAX_REQUEST_BOUNDARY``.

    That is every value an RFC 9110 token or quoted-string carries once unquoted, less control
    characters (a CR or LF would let the delimiter span lines) and non-ASCII (whose bytes on the
    wire depend on an encoding the header does not name). Longer than RFC 2046 allows, with
    characters outside its set, or ending in a space, a boundary is still read unambiguously, so
    it is accepted. Holding no CR is what the reader relies on to find where a delimiter split
    across two chunks may begin.
    """
    if not boundary:
        raise MultipartError("the boundary is empty")
    if len(boundary) > MAX_REQUEST_BOUNDARY:
        raise MultipartError(f"the boundary is longer than {MAX_REQUEST_BOUNDARY} characters")
    if not _PRINTABLE_RE.fullmatch(boundary):
        raise MultipartError("the boundary holds a control or non-ASCII character")
    return boundary.encode("ascii")


def _response_boundary_bytes(boundary: str) -> bytes:
    """A boundary this service writes, held to RFC 2046 so that every reader accepts it."""
    if not _RFC2046_BOUNDARY_RE.fullmatch(boundary):
        raise ValueError(
            "a response boundary must be 1 to 70 of RFC 2046's characters, not ending in a space"
        )
    return boundary.encode("ascii")


class _After(Enum):
    """What the bytes after a ``CRLF--boundary`` match make of it."""

    PART = auto()
    CLOSE = auto()
    DATA = auto()
    UNKNOWN = auto()


def _classify(buf: bytes, pos: int) -> tuple[_After, int]:
    """Read the rest of a delimiter line starting at ``pos``.

    For ``PART`` the index returned is that of the line's CRLF. A match followed by anything but
    padding and CRLF, or ``--``, is body data, as in RFC 2046's grammar. ``UNKNOWN`` means the
    bytes so far could still go either way.
    """
    two = buf[pos : pos + 2]
    if two == b"--":
        return _After.CLOSE, pos
    if two == b"\r\n":
        return _After.PART, pos
    if len(two) < 2 and (b"--".startswith(two) or b"\r\n".startswith(two)):
        return _After.UNKNOWN, pos
    window = buf[pos : pos + _MAX_PADDING + 2]
    end = pos + len(window) - len(window.lstrip(b" \t"))
    if end - pos > _MAX_PADDING:
        raise MultipartError("the transport padding after a boundary is too long")
    if end == pos:
        return _After.DATA, pos
    rest = buf[end : end + 2]
    if rest == b"\r\n":
        return _After.PART, end
    if rest in (b"", b"\r"):
        return _After.UNKNOWN, pos
    return _After.DATA, pos


def _parse_headers(block: bytes, part_number: int) -> dict[str, str]:
    """Header fields of one part, names lower-cased, repeats joined with ", " as HTTP does.

    Bytes are read as Latin-1, which maps every byte to a character and so cannot fail; a UTF-8
    file name from a form upload comes out garbled but nothing here relies on it.
    """
    headers: dict[str, str] = {}
    name = ""
    for line in block.decode("latin-1").split("\r\n") if block else ():
        if "\r" in line or "\n" in line:
            raise MultipartError(f"part {part_number} has a header line with a bare CR or LF")
        if line[:1] in (" ", "\t") and name:
            # An obsolete folded line continues the previous field (RFC 5322 §2.2.3).
            headers[name] = " ".join(text for text in (headers[name], line.strip(" \t")) if text)
            continue
        field, colon, value = line.partition(":")
        if not colon or not _TOKEN_RE.fullmatch(field):
            raise MultipartError(f"part {part_number} has a malformed header line")
        name = field.lower()
        value = value.strip(" \t")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


class _Scanner:
    """The reader's position in the body, shared by the parts it hands out in turn.

    ``_buf[_pos:]`` is what has been received but not consumed. Before any delimiter a CRLF is
    put in front of the body, so that a delimiter on the first line is found like every other.
    """

    def __init__(self, body: AsyncIterable[bytes], boundary: str, max_header_bytes: int) -> None:
        self._chunks = aiter(body)
        self._delimiter = b"\r\n--" + _request_boundary_bytes(boundary)
        self._max_header_bytes = max_header_bytes
        self._buf = b"\r\n"
        self._pos = 0
        self._search_from = 0
        self.closed = False
        self.part_number = 0

    async def _fill(self) -> None:
        """Append the next non-empty chunk; the body ending here is a truncated request."""
        chunk = b""
        while not chunk:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                raise MultipartError("the body ended before the closing boundary") from None
        self._buf = self._buf[self._pos :] + chunk
        self._search_from -= self._pos
        self._pos = 0

    def _take(self, end: int) -> bytes:
        piece = self._buf[self._pos : end]
        self._pos = end
        self._search_from = max(self._search_from, end)
        return piece

    def _safe_end(self) -> int:
        """Where the bytes that cannot begin a delimiter end, when no whole delimiter is in view.

        Only the last ``len(delimiter) - 1`` bytes may start one, and a delimiter prefix holds a
        single CR, at its start: so the only candidate is the last CR in that tail.
        """
        buf = self._buf
        tail = max(self._search_from, len(buf) - len(self._delimiter) + 1)
        cr = buf.rfind(b"\r", tail)
        if cr >= 0 and self._delimiter.startswith(buf[cr:]):
            return cr
        return len(buf)

    async def next_piece(self) -> bytes | None:
        """The next run of body bytes, or None once the delimiter ending the body is consumed."""
        while True:
            found = self._buf.find(self._delimiter, self._search_from)
            if found < 0:
                end = self._safe_end()
            else:
                after, line_end = _classify(self._buf, found + len(self._delimiter))
                if after is _After.DATA:
                    self._search_from = found + 1
                    continue
                end = found
                if after is not _After.UNKNOWN and found == self._pos:
                    self.closed = after is _After.CLOSE
                    self._pos = self._search_from = line_end
                    return None
            if end > self._pos:
                return self._take(end)
            await self._fill()

    async def read_headers(self) -> dict[str, str]:
        """Consume the header block of the part whose delimiter line was just read.

        The delimiter line's own CRLF is still unconsumed, so the block ends at the first CRLF CRLF
        even when it is empty.
        """
        self.part_number += 1
        checked = 0
        while (found := self._buf.find(_HEADER_END, self._pos + checked)) < 0:
            checked = max(0, len(self._buf) - self._pos - 3)
            if checked > self._max_header_bytes + 2:
                break
            await self._fill()
        if found < 0 or found - self._pos - 2 > self._max_header_bytes:
            raise MultipartError(
                f"the headers of part {self.part_number} exceed {self._max_header_bytes} bytes"
            )
        block = self._buf[self._pos + 2 : found]
        self._pos = self._search_from = found + len(_HEADER_END)
        return _parse_headers(block, self.part_number)


class Part:
    """One body part: its headers at once, its body as a stream read from the request in turn.

    Parts share the request stream, so a part's body can be read only until the reader moves on
    to the next part; what was not read by then is skipped. A Content-Type that does not parse is
    a MultipartError rather than None, so that it is not mistaken for an absent one.
    """

    def __init__(self, headers: Mapping[str, str], scanner: _Scanner) -> None:
        self.headers = headers
        self.content_type: MediaType | None = None
        if "content-type" in headers:
            try:
                self.content_type = parse_media_type(headers["content-type"])
            except ValueError:
                raise MultipartError(
                    f"part {scanner.part_number} has a malformed Content-Type"
                ) from None
        self._scanner = scanner
        self._ended = False
        self._skipped = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The rest of the body, in pieces about the size of the request's chunks.

        Leaving the loop early is safe: a later call goes on from where this one stopped.
        """
        if self._skipped:
            raise RuntimeError("the part body was skipped when the reader moved to the next part")
        while not self._ended:
            piece = await self._scanner.next_piece()
            if piece is None:
                self._ended = True
            else:
                yield piece

    async def drain(self) -> None:
        """Read and discard the rest of the body (a failed part still has to be got past)."""
        async for _ in self.chunks():
            pass

    async def _skip(self) -> None:
        if not self._ended:
            await self.drain()
            self._skipped = True


async def read_parts(
    body: AsyncIterable[bytes], boundary: str, *, max_header_bytes: int = 16384
) -> AsyncIterator[Part]:
    """The parts of a multipart body, each yielded as soon as its headers have arrived.

    A body of only the close delimiter yields nothing. Anything after the close delimiter is
    epilogue and is not read. Raises MultipartError when the boundary is invalid, a header block
    is larger than ``max_header_bytes`` or malformed, or the body ends before the close delimiter
    (from the reader or from a part's ``chunks``, whichever is reading at the time).
    """
    scanner = _Scanner(body, boundary, max_header_bytes)
    while await scanner.next_piece() is not None:
        pass  # the preamble
    while not scanner.closed:
        part = Part(await scanner.read_headers(), scanner)
        yield part
        await part._skip()


def new_boundary() -> str:
    """A boundary for a response: 128 random bits in hex.

    That is too long to occur in a body by chance, and hex needs no quoting in a Content-Type.
    """
    return secrets.token_hex(16)


def _header_block(headers: Mapping[str, str]) -> bytes:
    """Refuse CR and LF in values: a caller echoing a stored value must not be able to inject."""
    lines = []
    for name, value in headers.items():
        if not _TOKEN_RE.fullmatch(name):
            raise ValueError("a part header name must be a token")
        if "\r" in value or "\n" in value:
            raise ValueError("a part header value must not contain CR or LF")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1") + b"\r\n"


async def write_parts(
    parts: AsyncIterable[tuple[Mapping[str, str], AsyncIterable[bytes]]], boundary: str
) -> AsyncIterator[bytes]:
    """Frame parts into a multipart body, passing each body chunk through without copying.

    There is no preamble: some JavaScript clients take the boundary from the first line. Bodies
    are not searched for the boundary; with ``new_boundary`` a collision is not a practical risk.
    """
    dash_boundary = b"--" + _response_boundary_bytes(boundary)
    opening = dash_boundary + b"\r\n"
    closing = dash_boundary + b"--\r\n"
    async for headers, body in parts:
        yield opening + _header_block(headers)
        async for chunk in body:
            if chunk:
                yield chunk
        opening = b"\r\n" + dash_boundary + b"\r\n"
        closing = b"\r\n" + dash_boundary + b"--\r\n"
    yield closing
