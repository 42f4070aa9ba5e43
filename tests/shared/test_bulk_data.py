"""Bulk data paths and HTTP byte ranges."""

from __future__ import annotations

from typing import Any

import pytest

from shared.bulk_data import RangeNotSatisfiable, bulk_element, byte_range
from shared.errors import NotFound
from shared.uid_index.keys import InstanceRef
from shared.uid_index.sidecar import Sidecar


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


def _sidecar(metadata: dict[str, Any]) -> Sidecar:
    return Sidecar(
        ref=InstanceRef.of("p", "1.2", "1.2.3", "1.2.3.4"),
        version="0" * 24,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.7",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        size=10,
        metadata=metadata,
        frames=None,
        pixel_data=None,
        excluded_tags=(),
    )


def test_bulk_element_follows_sequences() -> None:
    nested = {"54001010": {"vr": "OW", "BulkDataURI": "bulkdata/54000100/1/54001010"}}
    sidecar = _sidecar(
        {
            "54000100": {"vr": "SQ", "Value": [{}, nested]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "A"}]},
        }
    )
    assert bulk_element(sidecar, "54000100/1/54001010")["vr"] == "OW"
    for path in (
        "54000100/0/54001010",
        "54000100/2/54001010",
        f"54000100/{'1' * 4301}/54001010",
        "00100010",
        "../x",
        "5400",
    ):
        with pytest.raises(NotFound):
            bulk_element(sidecar, path)
