"""Accept negotiation for retrieve and frame list parsing: pure logic, no storage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.dicom.transfer_syntaxes import AS_STORED, EXPLICIT_VR_LITTLE_ENDIAN
from shared.errors import BadRequest, NotAcceptable
from shared.pixels.encoders import ENCODINGS, is_lossy
from shared.web.negotiation import (
    DICOM,
    OCTET_STREAM,
    ZIP,
    Rendition,
    frame_media_type,
    frame_rendition,
    instance_renditions,
    parse_frame_list,
    request_wishes,
    wishes,
)

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
RLE = "1.2.840.10008.1.2.5"
BIG_ENDIAN = "1.2.840.10008.1.2.2"


def _instances(accept: str | None, *, single: bool = True) -> list[Rendition]:
    return instance_renditions(wishes(accept, DICOM), single_part=single)


def _frame(
    accept: str | None, stored: str, *, single: bool = True, decode: bool = True
) -> Rendition:
    return frame_rendition(
        wishes(accept, "*/*"), stored, single_part=single, can_decode=lambda _: decode
    )


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, Rendition(True, DICOM, EXPLICIT_VR_LITTLE_ENDIAN)),
        ("*/*", Rendition(True, DICOM, EXPLICIT_VR_LITTLE_ENDIAN)),
        ('multipart/related; type="*/*"', Rendition(True, DICOM, EXPLICIT_VR_LITTLE_ENDIAN)),
        ("multipart/related", Rendition(True, DICOM, EXPLICIT_VR_LITTLE_ENDIAN)),
        (
            'multipart/related; type="application/dicom"; transfer-syntax=*',
            Rendition(True, DICOM, "*"),
        ),
        (
            "multipart/related; type=application/dicom; transfer-syntax=*",
            Rendition(True, DICOM, "*"),
        ),
        ("application/dicom; transfer-syntax=*", Rendition(False, DICOM, "*")),
        ("application/dicom", Rendition(False, DICOM, EXPLICIT_VR_LITTLE_ENDIAN)),
        ("application/*", Rendition(False, DICOM, EXPLICIT_VR_LITTLE_ENDIAN)),
        (
            "text/html;q=1, application/dicom;q=0, multipart/related;q=0.2",
            Rendition(True, DICOM, EXPLICIT_VR_LITTLE_ENDIAN),
        ),
        ("bad entry;=x, , multipart/related; transfer-syntax=*", Rendition(True, DICOM, "*")),
    ],
)
def test_instance_renditions_first_choice(accept: str | None, expected: Rendition) -> None:
    assert _instances(accept)[0] == expected


def test_instance_renditions_keep_weight_order() -> None:
    accept = (
        "multipart/related; transfer-syntax=1.2.840.10008.1.2.4.90;q=0.5, "
        "multipart/related; transfer-syntax=*;q=0.9"
    )
    assert [r.transfer_syntax for r in _instances(accept)] == ["*", "1.2.840.10008.1.2.4.90"]


@pytest.mark.parametrize(
    "accept", ["text/html", "application/dicom+json", 'multipart/related; type="image/jpeg"']
)
def test_instance_renditions_refused(accept: str) -> None:
    with pytest.raises(NotAcceptable):
        _instances(accept)


@pytest.mark.parametrize("single", [True, False])
def test_a_zip_is_the_files_as_stored_unless_a_syntax_is_named(single: bool) -> None:
    assert _instances(ZIP, single=single) == [Rendition(False, ZIP, AS_STORED)]
    assert _instances(f"{ZIP}; transfer-syntax=*", single=single)[0].zipped
    named = _instances(f"{ZIP}; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}", single=single)
    assert named == [Rendition(False, ZIP, EXPLICIT_VR_LITTLE_ENDIAN)]


def test_only_a_zip_named_exactly_is_a_zip() -> None:
    assert not any(r.zipped for r in _instances("application/*, */*"))
    accept = f'{ZIP}; q=0.4, multipart/related; type="application/dicom"'
    assert [r.zipped for r in _instances(accept, single=False)] == [False, True]
    with pytest.raises(NotAcceptable, match="zip"):
        _instances(f"{ZIP}; q=0", single=False)


def test_the_accept_parameter_is_tried_before_the_header() -> None:
    def first(header: str | None, parameter: list[str]) -> Rendition:
        return instance_renditions(request_wishes(header, parameter, DICOM), single_part=False)[0]

    multipart = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    assert first(multipart, [ZIP]).zipped
    assert first(ZIP, [multipart]) == Rendition(True, DICOM, AS_STORED)
    assert first(ZIP, ["text/html"]).zipped
    assert first(ZIP, [" "]).zipped
    assert not first(None, []).zipped
    with pytest.raises(BadRequest, match="accept"):
        request_wishes(None, [ZIP, ZIP], DICOM)


def test_single_part_only_for_one_instance() -> None:
    with pytest.raises(NotAcceptable):
        _instances("application/dicom", single=False)
    assert _instances("*/*", single=False)[0].multipart


@pytest.mark.parametrize(
    ("accept", "stored", "expected"),
    [
        (None, EXPLICIT_VR_LITTLE_ENDIAN, Rendition(True, OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN)),
        (None, JPEG_BASELINE, Rendition(True, "image/jpeg", JPEG_BASELINE)),
        ('multipart/related; type="*/*"', RLE, Rendition(True, "image/dicom-rle", RLE)),
        (
            "multipart/related; type=application/octet-stream; transfer-syntax=*",
            JPEG_EXTENDED,
            Rendition(True, "image/jpeg", JPEG_EXTENDED),
        ),
        (
            'multipart/related; type="application/octet-stream"',
            JPEG_BASELINE,
            Rendition(True, OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN),
        ),
        (
            'multipart/related; type="application/octet-stream"; transfer-syntax=*',
            BIG_ENDIAN,
            Rendition(True, OCTET_STREAM, BIG_ENDIAN),
        ),
        (
            'multipart/related; type="image/jpeg"',
            JPEG_EXTENDED,
            Rendition(True, "image/jpeg", JPEG_EXTENDED),
        ),
        (
            'multipart/related; type="image/x-dicom-rle"; transfer-syntax=1.2.840.10008.1.2.5',
            RLE,
            Rendition(True, "image/dicom-rle", RLE),
        ),
        (
            "application/octet-stream",
            RLE,
            Rendition(False, OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN),
        ),
        ("image/*", JPEG_BASELINE, Rendition(False, "image/jpeg", JPEG_BASELINE)),
        (
            "image/jp2, application/octet-stream;q=0.1",
            JPEG_BASELINE,
            Rendition(False, OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN),
        ),
    ],
)
def test_frame_rendition(accept: str | None, stored: str, expected: Rendition) -> None:
    assert _frame(accept, stored) == expected


def test_frame_rendition_refusals() -> None:
    with pytest.raises(NotAcceptable):
        _frame('multipart/related; type="image/jpeg"', RLE)
    with pytest.raises(NotAcceptable):
        _frame('multipart/related; type="application/octet-stream"', RLE, decode=False)
    with pytest.raises(NotAcceptable):
        _frame("application/octet-stream", EXPLICIT_VR_LITTLE_ENDIAN, single=False)
    with pytest.raises(NotAcceptable):
        _frame("application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.90", RLE)


def test_frame_media_types() -> None:
    assert frame_media_type("1.2.840.10008.1.2.4.80") == "image/jls"
    assert frame_media_type("1.2.840.10008.1.2.4.91") == "image/jp2"
    assert frame_media_type(BIG_ENDIAN) == OCTET_STREAM


@pytest.mark.parametrize(
    ("text", "expected"), [("1", [1]), ("3,1,2", [3, 1, 2]), (" 2 , 2", [2, 2])]
)
def test_frame_list(text: str, expected: list[int]) -> None:
    assert parse_frame_list(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "a", "", "1,", "1.5", "١", "1" * 11, "9" * 4301])
def test_bad_frame_list(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_frame_list(text)


ENCODABLE = frozenset(ENCODINGS)


def _encoded_frame(accept: str, stored: str, *, single: bool = True) -> Rendition:
    return frame_rendition(
        wishes(accept, "*/*"),
        stored,
        single_part=single,
        can_decode=lambda _: True,
        can_encode=lambda syntax: syntax in ENCODABLE,
    )


@pytest.mark.parametrize(
    ("accept", "stored", "expected"),
    [
        # No transfer-syntax: the media type's default (PS3.18 Table 8.7.3-5), always lossless.
        ('multipart/related; type="image/jls"', EXPLICIT_VR_LITTLE_ENDIAN, ("image/jls", ".80")),
        ("image/jp2", BIG_ENDIAN, ("image/jp2", ".90")),
        ("image/jphc", "1.2.840.10008.1.2.4.90", ("image/jphc", ".201")),
        ('multipart/related; type="image/dicom-rle"', JPEG_BASELINE, ("image/dicom-rle", RLE)),
        ('multipart/related; type="image/jpeg"', EXPLICIT_VR_LITTLE_ENDIAN, ("image/jpeg", ".70")),
        # Lossy only by name.
        (
            'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50',
            EXPLICIT_VR_LITTLE_ENDIAN,
            ("image/jpeg", ".50"),
        ),
        (
            'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.91',
            RLE,
            ("image/jp2", ".91"),
        ),
        (
            'multipart/related; type="*/*"; transfer-syntax=1.2.840.10008.1.2.4.203',
            RLE,
            ("image/jphc", ".203"),
        ),
        # The stored frames cost nothing: any member accepting them wins.
        ("image/jls, image/jp2;q=0.5", "1.2.840.10008.1.2.4.90", ("image/jp2", ".90")),
        (
            "image/jls;q=0.9, application/octet-stream;q=0.5",
            EXPLICIT_VR_LITTLE_ENDIAN,
            (OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN),
        ),
        ("image/jls;q=0, image/jp2", EXPLICIT_VR_LITTLE_ENDIAN, ("image/jp2", ".90")),
        # A wildcard is never encoded: stored, else uncompressed.
        ("*/*", EXPLICIT_VR_LITTLE_ENDIAN, (OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN)),
        ("image/jpx", "1.2.840.10008.1.2.4.92", ("image/jpx", ".92")),
    ],
)
def test_frame_rendition_encodes_what_is_asked(
    accept: str, stored: str, expected: tuple[str, str]
) -> None:
    media_type, syntax = expected
    full = f"1.2.840.10008.1.2.4{syntax}" if syntax.startswith(".") else syntax
    rendition = _encoded_frame(accept, stored)
    assert (rendition.media_type, rendition.transfer_syntax) == (media_type, full)


@pytest.mark.parametrize(
    "accept",
    [
        "image/jpx",  # JPEG 2000 Part 2: not written here
        "image/*",
        "multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.80",
        'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.80',
    ],
)
def test_frame_rendition_refuses_what_cannot_be_made(accept: str) -> None:
    with pytest.raises(NotAcceptable):
        _encoded_frame(accept, EXPLICIT_VR_LITTLE_ENDIAN)


def test_frame_rendition_refuses_formats_the_encoder_cannot_take() -> None:
    with pytest.raises(NotAcceptable):
        frame_rendition(
            wishes("image/jls", "*/*"),
            EXPLICIT_VR_LITTLE_ENDIAN,
            single_part=True,
            can_decode=lambda _: True,
            can_encode=lambda _: False,
        )


_MEMBERS = [
    "*/*",
    "image/*",
    "image/jpeg",
    "image/jls",
    "image/jp2",
    "image/jpx",
    "image/jphc",
    "image/dicom-rle",
    "application/octet-stream",
    'multipart/related; type="image/jpeg"',
    'multipart/related; type="image/jphc"',
    'multipart/related; type="*/*"',
    "multipart/related; type=application/octet-stream; transfer-syntax=*",
    'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.90',
    'multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.80',
]
_STORED = [EXPLICIT_VR_LITTLE_ENDIAN, BIG_ENDIAN, RLE, JPEG_BASELINE, "1.2.840.10008.1.2.4.90"]


@given(
    members=st.lists(
        st.tuples(st.sampled_from(_MEMBERS), st.sampled_from(["", ";q=0.5", ";q=0", ";q=1"])),
        min_size=1,
        max_size=5,
    ),
    stored=st.sampled_from(_STORED),
)
def test_lossy_frames_only_when_named(members: list[tuple[str, str]], stored: str) -> None:
    """Whatever the Accept header, a lossy syntax is the answer only if stored so or named."""
    accept = ", ".join(member + weight for member, weight in members)
    try:
        rendition = _encoded_frame(accept, stored)
    except NotAcceptable:
        return
    if is_lossy(rendition.transfer_syntax):
        assert rendition.transfer_syntax == stored
