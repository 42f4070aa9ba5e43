from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.web.media_types import MediaType, parse_media_type
from shared.web.multipart import (
    MAX_REQUEST_BOUNDARY,
    MultipartError,
    new_boundary,
    read_parts,
    write_parts,
)

B = "XyZzy-boundary"
DICOM = "application/dicom"
Parts = list[tuple[dict[str, str], bytes]]


async def stream(data: bytes, sizes: Sequence[int] = (1 << 30,)) -> AsyncIterator[bytes]:
    """``data`` in chunks whose sizes cycle through ``sizes``."""
    pos = index = 0
    while pos < len(data):
        size = sizes[index % len(sizes)]
        yield data[pos : pos + size]
        pos += size
        index += 1


async def read_all(body: AsyncIterable[bytes], boundary: str = B, **kwargs: int) -> Parts:
    return [
        (dict(part.headers), b"".join([chunk async for chunk in part.chunks()]))
        async for part in read_parts(body, boundary, **kwargs)
    ]


async def parse(raw: bytes, boundary: str = B, sizes: Sequence[int] = (1 << 30,)) -> Parts:
    return await read_all(stream(raw, sizes), boundary)


async def write_all(parts: Parts, boundary: str = B, piece: int = 7) -> bytes:
    async def source() -> AsyncIterator[tuple[Mapping[str, str], AsyncIterable[bytes]]]:
        for headers, body in parts:
            yield headers, stream(body, [piece])

    return b"".join([chunk async for chunk in write_parts(source(), boundary)])


def framed(parts: Parts, boundary: str) -> bytes:
    """A body framed by hand, for boundaries the writer (held to RFC 2046) refuses."""
    b = boundary.encode()
    raw = b"".join(
        b"--%b\r\n%b\r\n%b\r\n"
        % (b, "".join(f"{n}: {v}\r\n" for n, v in headers.items()).encode("latin-1"), body)
        for headers, body in parts
    )
    return raw + b"--%b--\r\n" % b


# The form of boundary Orthanc 1.10's DICOMweb client sends: two UUIDs joined by a dash.
ORTHANC_BOUNDARY = "0b9e5d2c-63f1-4b8e-a7d4-2f6c1e9a8b30-5d7c3a1e-9f24-4c6b-8e1a-7b3d5f9c2e41"


CHUNKINGS = [(1 << 30,), (1,), (2,), (3, 1, 5), (len(B) + 3,), (64,)]
DICOM_PART = b"--" + B.encode() + b"\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n"


@pytest.mark.parametrize("sizes", CHUNKINGS)
class TestFraming:
    async def test_no_preamble(self, sizes: Sequence[int]) -> None:
        raw = DICOM_PART + b"--" + B.encode() + b"--\r\n"
        assert await parse(raw, sizes=sizes) == [({"content-type": "application/dicom"}, b"DICM")]

    @pytest.mark.parametrize(
        "preamble",
        [
            b"\r\n",
            b"\r\n\r\n",
            b"This is a preamble.\r\n",
            b"--XyZzy\r\n--" + B.encode() + b"x\r\n",
        ],
    )
    async def test_preamble_is_skipped(self, sizes: Sequence[int], preamble: bytes) -> None:
        raw = preamble + DICOM_PART + b"--" + B.encode() + b"--"
        assert await parse(raw, sizes=sizes) == [({"content-type": "application/dicom"}, b"DICM")]

    async def test_transport_padding_after_delimiters(self, sizes: Sequence[int]) -> None:
        b = B.encode()
        raw = b"--%b \t\r\n\r\none\r\n--%b\t\r\n\r\ntwo\r\n--%b--  \r\n" % (b, b, b)
        assert await parse(raw, sizes=sizes) == [({}, b"one"), ({}, b"two")]

    async def test_parts_without_headers_or_content_type(self, sizes: Sequence[int]) -> None:
        raw = await write_all([({}, b"bare"), ({"X-Note": "n"}, b"noted")])
        assert await parse(raw, sizes=sizes) == [({}, b"bare"), ({"x-note": "n"}, b"noted")]

    async def test_curl_form_part(self, sizes: Sequence[int]) -> None:
        b = B.encode()
        raw = (
            b"--%b\r\n"
            b'Content-Disposition: form-data; name="file1"; filename="x.dcm"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n"
            b"DICM\r\n--%b--\r\n"
        ) % (b, b)
        parts = [part async for part in read_parts(stream(raw, sizes), B)]
        assert parts[0].headers["content-disposition"] == (
            'form-data; name="file1"; filename="x.dcm"'
        )
        assert parts[0].content_type == MediaType("application/octet-stream")

    async def test_content_type_with_transfer_syntax(self, sizes: Sequence[int]) -> None:
        raw = await write_all(
            [({"Content-Type": "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"}, b"x")]
        )
        async for part in read_parts(stream(raw, sizes), B):
            assert part.content_type is not None
            assert part.content_type.type == "application/dicom"
            assert part.content_type.param("transfer-syntax") == "1.2.840.10008.1.2.1"
            await part.drain()

    @pytest.mark.parametrize(
        "ending", [b"", b"\r\n", b"\r\nepilogue\r\n", b"epilogue --" + B.encode()]
    )
    async def test_close_delimiter_endings(self, sizes: Sequence[int], ending: bytes) -> None:
        raw = DICOM_PART + b"--" + B.encode() + b"--" + ending
        assert await parse(raw, sizes=sizes) == [({"content-type": "application/dicom"}, b"DICM")]

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"\r\n",
            b"--",
            b"\r\n--",
            b"\r\n\r\n--\r\n--\r\n",
            b"\r\n--XyZzy-\r\n--XyZzy-boundar",
            b"\r\n--" + B.encode() + b"x\r\n",
            b"\r\n--" + B.encode() + b"-x",
            b"\r\n--" + B.encode() + b"  x\r\n",
            b"ends with a prefix \r\n--XyZzy-bound",
            b"ends with CR\r",
        ],
    )
    async def test_bodies_resembling_delimiters(self, sizes: Sequence[int], body: bytes) -> None:
        parts: Parts = [({}, body), ({"a": "1"}, body + b"\x00" + body)]
        assert await parse(await write_all(parts), sizes=sizes) == [
            ({}, body),
            ({"a": "1"}, body + b"\x00" + body),
        ]

    async def test_empty_multipart_yields_nothing(self, sizes: Sequence[int]) -> None:
        assert await parse(b"--" + B.encode() + b"--\r\n", sizes=sizes) == []
        assert await parse(b"\r\n--" + B.encode() + b"--", sizes=sizes) == []
        assert await parse(await write_all([]), sizes=sizes) == []

    async def test_longest_boundary(self, sizes: Sequence[int]) -> None:
        boundary = "b" * 69 + "="
        raw = await write_all([({}, b"\r\n--" + boundary[:-1].encode())], boundary)
        assert await parse(raw, boundary, sizes=sizes) == [({}, b"\r\n--" + b"b" * 69)]


# Boundaries as senders write them: longer than RFC 2046's 70, any token or quoted-string.
REQUEST_BOUNDARIES = [
    ORTHANC_BOUNDARY,
    "t" * MAX_REQUEST_BOUNDARY,
    "b" * 71,
    "ends in a space ",
    'a "quoted" one; with: colons, \\ and [brackets]',
    "{braces}@<angles>!#$%&*^`|~",
]


class TestRequestBoundaries:
    def test_orthanc_boundary_is_longer_than_rfc_2046_allows(self) -> None:
        assert len(ORTHANC_BOUNDARY) == 73

    @pytest.mark.parametrize("boundary", REQUEST_BOUNDARIES)
    @pytest.mark.parametrize("sizes", [(1 << 30,), (1,), (7,), (80,)])
    async def test_read(self, boundary: str, sizes: Sequence[int]) -> None:
        parts: Parts = [
            ({"content-type": "application/dicom"}, b"\r\n--" + boundary[:-1].encode()),
            ({}, b"two"),
        ]
        assert await parse(framed(parts, boundary), boundary, sizes) == parts

    @pytest.mark.parametrize("boundary", REQUEST_BOUNDARIES)
    async def test_read_from_the_content_type_as_written(self, boundary: str) -> None:
        header = str(MediaType("multipart/related", {"type": DICOM, "boundary": boundary}))
        media = parse_media_type(header)
        assert media.param("boundary") == boundary
        raw = framed([({}, b"one")], boundary)
        assert await parse(raw, media.param("boundary") or "", (5,)) == [({}, b"one")]

    async def test_orthanc_content_type(self) -> None:
        header = f'multipart/related; type="{DICOM}"; boundary={ORTHANC_BOUNDARY}'
        assert parse_media_type(header).param("boundary") == ORTHANC_BOUNDARY

    @pytest.mark.parametrize(
        ("boundary", "message"),
        [
            ("", "the boundary is empty"),
            ("x" * (MAX_REQUEST_BOUNDARY + 1), "longer than 256 characters"),
            ("line\r\nbreak", "control or non-ASCII character"),
            ("bare\nLF", "control or non-ASCII character"),
            ("tab\there", "control or non-ASCII character"),
            ("nul\x00", "control or non-ASCII character"),
            ("del\x7f", "control or non-ASCII character"),
            ("ümlaut", "control or non-ASCII character"),
        ],
    )
    async def test_refused(self, boundary: str, message: str) -> None:
        with pytest.raises(MultipartError, match=message) as info:
            await _consume(b"--x--", boundary=boundary)
        assert not boundary or boundary not in str(info.value)


async def test_quoted_boundary_from_the_content_type() -> None:
    boundary = "it's (a) +_,-./:=? boundary"
    media = parse_media_type(f'multipart/related; type="application/dicom"; boundary="{boundary}"')
    assert media.param("boundary") == boundary
    raw = await write_all([({}, b"one"), ({}, b"two")], boundary)
    assert await parse(raw, media.param("boundary") or "", sizes=(5,)) == [
        ({}, b"one"),
        ({}, b"two"),
    ]


async def test_empty_chunks_are_ignored() -> None:
    raw = DICOM_PART + b"--" + B.encode() + b"--"

    async def with_gaps() -> AsyncIterator[bytes]:
        for byte in raw:
            yield b""
            yield bytes([byte])

    assert await read_all(with_gaps()) == [({"content-type": "application/dicom"}, b"DICM")]


class TestHeaders:
    async def test_names_lower_cased_values_trimmed_repeats_joined(self) -> None:
        raw = (
            b"--%b\r\nX-A:  one \t\r\nx-a:two\r\nX-Empty:\r\nX-Folded: first\r\n\t second\r\n\r\n"
            b"\r\n--%b--"
        ) % (B.encode(), B.encode())
        assert await parse(raw) == [
            ({"x-a": "one, two", "x-empty": "", "x-folded": "first second"}, b"")
        ]

    async def test_latin_1_bytes_survive(self) -> None:
        raw = await write_all([({"X-Name": "Müller"}, b"")])
        assert await parse(raw) == [({"x-name": "Müller"}, b"")]

    async def test_content_type_absent_is_none(self) -> None:
        async for part in read_parts(stream(await write_all([({}, b"")])), B):
            assert part.content_type is None


async def _consume(raw: bytes, sizes: Sequence[int] = (1 << 30,), boundary: str = B) -> None:
    await parse(raw, boundary, sizes)


class TestErrors:
    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"no delimiter at all",
            b"--" + B.encode(),
            b"--" + B.encode() + b"-",
            b"--" + B.encode() + b"\r\n",
            b"--" + B.encode() + b"\r\nA: b\r\n",
            DICOM_PART,
            DICOM_PART + b"--" + B.encode(),
            DICOM_PART + b"--" + B.encode() + b"-",
            DICOM_PART + b"--" + B.encode() + b" \t",
            DICOM_PART[:-2],
        ],
    )
    @pytest.mark.parametrize("sizes", [(1 << 30,), (1,)])
    async def test_truncated_body(self, raw: bytes, sizes: Sequence[int]) -> None:
        with pytest.raises(MultipartError, match="ended before the closing boundary"):
            await _consume(raw, sizes)

    @pytest.mark.parametrize("sizes", [(1 << 30,), (1,), (100,)])
    async def test_header_block_too_large(self, sizes: Sequence[int]) -> None:
        raw = await write_all([({"X-Big": "v" * 2000}, b"body")])
        assert await read_all(stream(raw, sizes), max_header_bytes=2048)
        with pytest.raises(MultipartError, match="part 1 exceed 1000 bytes"):
            await read_all(stream(raw, sizes), max_header_bytes=1000)

    async def test_endless_header_block_is_cut_off(self) -> None:
        async def endless() -> AsyncIterator[bytes]:
            yield b"--" + B.encode() + b"\r\n"
            while True:
                yield b"X-Header: value\r\n" * 100

        with pytest.raises(MultipartError, match="exceed 16384 bytes"):
            await read_all(endless())

    @pytest.mark.parametrize(
        "header",
        [b"no colon", b": empty name", b"bad name: x", b" folded first: x", b"A: bare\nLF"],
    )
    async def test_malformed_header_line(self, header: bytes) -> None:
        raw = DICOM_PART + b"--%b\r\n%b\r\n\r\nx\r\n--%b--" % (B.encode(), header, B.encode())
        with pytest.raises(MultipartError, match="part 2 has a") as info:
            await _consume(raw)
        assert header.decode() not in str(info.value)

    async def test_malformed_content_type(self) -> None:
        raw = await write_all([({"Content-Type": "dicom"}, b"")])
        with pytest.raises(MultipartError, match="part 1 has a malformed Content-Type"):
            await _consume(raw)

    async def test_endless_transport_padding(self) -> None:
        raw = b"--" + B.encode() + b" " * 5000 + b"\r\n\r\n\r\n--" + B.encode() + b"--"
        with pytest.raises(MultipartError, match="padding"):
            await _consume(raw, (100,))

    async def test_messages_never_echo_body_bytes(self) -> None:
        secret = b"PATIENT^SECRET"
        for raw in (secret, b"--%b\r\n%b\r\n\r\n" % (B.encode(), secret)):
            with pytest.raises(MultipartError) as info:
                await _consume(raw)
            assert "SECRET" not in str(info.value)


class TestStreaming:
    async def test_unread_and_half_read_parts_are_skipped(self) -> None:
        bodies = [b"a" * 100, b"b" * 100, b"c" * 100]
        raw = await write_all([({"n": str(i)}, body) for i, body in enumerate(bodies)])
        seen = []
        async for part in read_parts(stream(raw, [9]), B):
            if part.headers["n"] == "1":
                async for chunk in part.chunks():
                    seen.append(chunk)
                    break
            elif part.headers["n"] == "2":
                seen.append(b"".join([chunk async for chunk in part.chunks()]))
        assert len(seen) == 2
        assert seen[0] and (b"b" * 100).startswith(seen[0])
        assert seen[1] == b"c" * 100

    async def test_reading_resumes_where_it_stopped(self) -> None:
        raw = await write_all([({}, bytes(range(256)))])
        async for part in read_parts(stream(raw, [10]), B):
            chunks = part.chunks()
            first = [await anext(chunks), await anext(chunks)]
            rest = [chunk async for chunk in part.chunks()]
            assert b"".join(first + rest) == bytes(range(256))

    async def test_a_skipped_part_cannot_be_read_later(self) -> None:
        raw = await write_all([({}, b"one"), ({}, b"two")])
        parts = [part async for part in read_parts(stream(raw), B)]
        with pytest.raises(RuntimeError, match="skipped"):
            await parts[0].drain()

    async def test_a_read_part_reads_as_empty_afterwards(self) -> None:
        raw = await write_all([({}, b"one")])
        async for part in read_parts(stream(raw), B):
            await part.drain()
            assert [chunk async for chunk in part.chunks()] == []

    async def test_parts_are_yielded_as_they_arrive(self) -> None:
        pulled = 0
        raw = await write_all([({"n": "0"}, b"x" * 10_000), ({"n": "1"}, b"y" * 10_000)])

        async def counting() -> AsyncIterator[bytes]:
            nonlocal pulled
            async for chunk in stream(raw, [100]):
                pulled += 1
                yield chunk

        async for part in read_parts(counting(), B):
            assert pulled <= 1 + 100 * int(part.headers["n"]) + 1
            await part.drain()

    async def test_pieces_are_bounded_by_the_input_chunks(self) -> None:
        chunk = 1000
        raw = await write_all([({}, (b"\r\n--XyZzy" + bytes(range(200))) * 500)])
        async for part in read_parts(stream(raw, [chunk]), B):
            sizes = [len(piece) async for piece in part.chunks()]
            assert max(sizes) <= chunk + len(B) + 4
            assert sum(sizes) == 500 * 209

    async def test_the_epilogue_is_not_read(self) -> None:
        async def closed_then_broken() -> AsyncIterator[bytes]:
            yield DICOM_PART + b"--" + B.encode() + b"--"
            raise AssertionError("read past the close delimiter")

        assert len(await read_all(closed_then_broken())) == 1


class TestWriter:
    async def test_exact_framing(self) -> None:
        raw = await write_all(
            [({"Content-Type": "application/dicom"}, b"DICM"), ({}, b"")], "bnd", piece=2
        )
        assert raw == (
            b"--bnd\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--bnd\r\n\r\n\r\n--bnd--\r\n"
        )

    async def test_no_parts(self) -> None:
        assert await write_all([], "bnd") == b"--bnd--\r\n"

    async def test_body_chunks_pass_through_unchanged(self) -> None:
        chunk = b"z" * 1000

        async def source() -> AsyncIterator[tuple[Mapping[str, str], AsyncIterable[bytes]]]:
            async def body() -> AsyncIterator[bytes]:
                yield chunk
                yield b""

            yield {}, body()

        out = [piece async for piece in write_parts(source(), "bnd")]
        assert any(piece is chunk for piece in out)
        assert b"" not in out

    @pytest.mark.parametrize(
        "headers", [{"X": "a\r\nInjected: 1"}, {"X": "bare\n"}, {"Bad Name": "x"}, {"": "x"}]
    )
    async def test_header_injection_is_refused(self, headers: dict[str, str]) -> None:
        with pytest.raises(ValueError):
            await write_all([(headers, b"")])

    @pytest.mark.parametrize(
        "boundary",
        [
            "",
            "b" * 71,
            "trailing ",
            "ümlaut",
            "line\r\nbreak",
            ORTHANC_BOUNDARY,
            'a"b',
            "a;b",
        ],
    )
    async def test_response_boundaries_are_held_to_rfc_2046(self, boundary: str) -> None:
        with pytest.raises(ValueError, match="1 to 70 of RFC 2046's characters"):
            await write_all([], boundary)

    def test_new_boundary_is_random_and_needs_no_quoting(self) -> None:
        boundaries = {new_boundary() for _ in range(100)}
        assert len(boundaries) == 100
        for boundary in boundaries:
            assert re.fullmatch(r"[0-9a-f]{32}", boundary)
            media = MediaType("multipart/related", {"boundary": boundary})
            assert str(media) == f"multipart/related; boundary={boundary}"


# Property tests ---------------------------------------------------------------------------------

BCHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? "
boundaries = st.one_of(
    st.text(alphabet="ab-", min_size=1, max_size=4),  # short and repetitive: many near-misses
    st.text(alphabet=BCHARS, min_size=1, max_size=70),
    st.builds(new_boundary),
).filter(lambda b: not b.endswith(" "))
# What a request may carry: printable ASCII up to the bound, RFC 2046's or not.
request_boundaries = st.one_of(
    boundaries,
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=8),
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        min_size=71,
        max_size=MAX_REQUEST_BOUNDARY,
    ),
    st.builds(lambda a, b: f"{a}-{b}", st.uuids(), st.uuids()),
)
header_names = st.text(alphabet="abcXYZ-_.0123", min_size=1, max_size=10)
header_values = st.text(
    alphabet=st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=20
).map(lambda value: value.strip(" \t"))
header_sets = st.dictionaries(header_names, header_values, max_size=4).filter(
    lambda headers: len({name.lower() for name in headers}) == len(headers)
)
chunkings = st.lists(st.integers(1, 40), min_size=1, max_size=8)
paddings = st.text(alphabet=" \t", max_size=3).map(str.encode)
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


def delimiter_in(data: bytes, boundary: bytes) -> bool:
    """Whether ``data`` holds (or ends in what could start) a real delimiter line."""
    pattern = re.escape(b"\r\n--" + boundary) + rb"(?:[ \t]*(?:\r\n|\r?\Z)|--|-?\Z)"
    return re.search(pattern, b"\r\n" + data) is not None


@st.composite
def bodies(draw: st.DrawFn, boundary: str) -> bytes:
    """Binary bodies full of CRLF, dashes and pieces of the boundary, never the delimiter."""
    b = boundary.encode()
    fragments = st.one_of(
        st.binary(max_size=16),
        st.sampled_from([b"\r\n", b"--", b"\r\n--", b"\r", b"\n", b"-", b" ", b"\t"]),
        st.integers(0, len(b)).map(lambda k: b"\r\n--" + b[:k]),
        st.integers(0, len(b)).map(lambda k: b[:k]),
        st.just(b"\r\n--" + b + b"x"),
    )
    body = b"".join(draw(st.lists(fragments, max_size=10)))
    assume(not delimiter_in(body, b))
    return body


@st.composite
def multiparts(
    draw: st.DrawFn, boundary_strategy: st.SearchStrategy[str] = boundaries
) -> tuple[str, Parts]:
    boundary = draw(boundary_strategy)
    parts = draw(st.lists(st.tuples(header_sets, bodies(boundary)), max_size=4))
    return boundary, parts


def lower(parts: Parts) -> Parts:
    return [
        ({name.lower(): value for name, value in headers.items()}, body) for headers, body in parts
    ]


@SETTINGS
@given(multiparts(), chunkings, st.integers(1, 9))
async def test_written_parts_read_back(
    case: tuple[str, Parts], sizes: list[int], piece: int
) -> None:
    boundary, parts = case
    raw = await write_all(parts, boundary, piece)
    assert await parse(raw, boundary, sizes) == lower(parts)


@st.composite
def hand_framed(draw: st.DrawFn) -> tuple[str, Parts, bytes]:
    """Framing as other writers produce it: any request boundary, preamble, padding, no final
    CRLF, an epilogue."""
    boundary, parts = draw(multiparts(request_boundaries))
    b = boundary.encode()
    preamble = draw(st.sampled_from([b"", b"\r\n", b"preamble\r\n", b"\r\n\r\n-- p --\r\n"]))
    epilogue = draw(st.sampled_from([b"", b"\r\n", b"\r\nepilogue\r\n--" + b + b"\r\n"]))
    assume(not delimiter_in(preamble.removesuffix(b"\r\n"), b))
    raw = bytearray(preamble)
    for index, (headers, body) in enumerate(parts):
        raw += b"\r\n" if index else b""
        raw += b"--" + b + draw(paddings) + b"\r\n"
        raw += "".join(f"{name}:{value}\r\n" for name, value in headers.items()).encode("latin-1")
        raw += b"\r\n" + body
    raw += (b"\r\n" if parts else b"") + b"--" + b + b"--" + draw(paddings) + epilogue
    return boundary, parts, bytes(raw)


@SETTINGS
@given(hand_framed(), chunkings)
async def test_other_framings_read_back(case: tuple[str, Parts, bytes], sizes: list[int]) -> None:
    boundary, parts, raw = case
    assert await parse(raw, boundary, sizes) == lower(parts)


@SETTINGS
@given(multiparts(), chunkings, st.data())
async def test_truncation_always_raises(
    case: tuple[str, Parts], sizes: list[int], data: st.DataObject
) -> None:
    boundary, parts = case
    raw = await write_all(parts, boundary)
    # Everything up to the close delimiter's last dash is needed; its CRLF is not.
    cut = data.draw(st.integers(0, len(raw) - 3), label="cut")
    with pytest.raises(MultipartError, match="ended before the closing boundary"):
        await parse(raw[:cut], boundary, sizes)
    assert await parse(raw[: len(raw) - 2], boundary, sizes) == lower(parts)


@pytest.mark.parametrize("sizes", [(1 << 30,), (1,), (7,)])
async def test_truncation_at_every_point(sizes: Sequence[int]) -> None:
    raw = await write_all([({"Content-Type": "application/dicom"}, b"\r\n--XyZ\r\n"), ({}, b"")])
    for cut in range(len(raw) - 2):
        with pytest.raises(MultipartError):
            await parse(raw[:cut], B, sizes)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), chunkings)
async def test_arbitrary_bytes_only_raise_multipart_error(junk: bytes, sizes: list[int]) -> None:
    b = B.encode()
    for raw in (
        junk,
        b"--" + b + b"\r\n" + junk,
        b"--" + b + b"\r\n" + junk + b"\r\n--" + b + b"--",
    ):
        with contextlib.suppress(MultipartError):
            await parse(raw, B, sizes)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=MAX_REQUEST_BOUNDARY + 2))
async def test_any_boundary_is_read_or_refused_with_multipart_error(boundary: str) -> None:
    raw = framed([({}, b"x")], boundary) if boundary.isascii() else b"--x--"
    try:
        parts = await parse(raw, boundary, (3,))
    except MultipartError:
        assert (
            not boundary
            or len(boundary) > MAX_REQUEST_BOUNDARY
            or not re.fullmatch(r"[ -~]*", boundary)
        )
    else:
        assert parts == [({}, b"x")]
