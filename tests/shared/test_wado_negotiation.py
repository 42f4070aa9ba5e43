"""Accept negotiation for retrieve and frame list parsing: pure logic, no storage."""

from __future__ import annotations

import pytest

from shared.errors import BadRequest, NotAcceptable
from shared.wado_negotiation import (
    DICOM,
    EXPLICIT_VR_LITTLE_ENDIAN,
    OCTET_STREAM,
    Rendition,
    frame_media_type,
    frame_rendition,
    instance_renditions,
    parse_frame_list,
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
