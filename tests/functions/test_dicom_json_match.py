"""The metadata comparison allows exactly its three differences and reports every other."""

from __future__ import annotations

from typing import Any

from tests.functions.dicom_json_match import json_differences

EXPECTED: dict[str, Any] = {
    "00080000": {"vr": "UL", "Value": [120]},
    "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
    "00091001": {"vr": "OB", "InlineBinary": "AAEC"},
    "00400275": {"vr": "SQ", "Value": [{"00400007": {"vr": "LO", "Value": ["CT HEAD"]}}]},
    "FFFCFFFC": {"vr": "OB", "InlineBinary": "AAAA"},
}


def test_the_allowances() -> None:
    got = {
        "00100010": EXPECTED["00100010"],
        "00091001": {"vr": "OB", "BulkDataURI": "https://host/bulkdata/00091001"},
        "00400275": EXPECTED["00400275"],
    }
    assert json_differences(EXPECTED, got) == []


def test_every_other_difference_is_reported() -> None:
    got = {
        "00080000": EXPECTED["00080000"],
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane "}]},
        "00091001": {"vr": "OB", "InlineBinary": "AAED"},
        "00400275": {"vr": "SQ", "Value": [{"00400007": {"vr": "SH", "Value": ["CT HEAD"]}}]},
        "00200010": {"vr": "SH", "Value": ["1"]},
    }
    # A trailing space, another binary value, an extra element, another VR in an item.
    assert [line.split(":")[0] for line in json_differences(EXPECTED, got)] == [
        "00091001",
        "00100010",
        "00200010",
        "00400275/0/00400007",
    ]
