"""HTTP byte ranges of a value of known length."""

from __future__ import annotations

import pytest

from shared.web.byte_ranges import RangeNotSatisfiable, byte_range, range_headers


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 10)),
        ("bytes=5-", (5, 100)),
        ("bytes=-10", (90, 100)),
        ("bytes=-1000", (0, 100)),
        ("bytes=90-1000", (90, 100)),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=-", None),
        (f"bytes={'9' * 4301}-", None),
        (f"bytes=0-{'9' * 4301}", None),
    ],
)
def test_byte_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=9-3"])
def test_unsatisfiable_range(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        byte_range(header, 100)
    assert caught.value.headers["Content-Range"] == "bytes */100"


def test_range_headers_name_the_part_sent() -> None:
    assert range_headers((10, 20), 100) == {
        "Accept-Ranges": "bytes",
        "Content-Length": "10",
        "Content-Range": "bytes 10-19/100",
    }
    assert range_headers(None, 100) == {"Accept-Ranges": "bytes", "Content-Length": "100"}
