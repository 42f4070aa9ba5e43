"""The numbers ``cli download`` names files by are read as the index reads them."""

from __future__ import annotations

import pytest
from pydicom.multival import MultiValue
from pydicom.valuerep import IS

from cli.download import _whole


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (IS("7"), 7),
        (IS("1.0"), 1),  # an integral decimal string is the whole number pydicom reads
        (MultiValue(IS, ["3", "4"]), 3),  # the first value, as the index keeps it
        ("", None),
        (None, None),
        (MultiValue(IS, []), None),
    ],
)
def test_series_and_instance_numbers(value: object, number: int | None) -> None:
    assert _whole(value) == number
