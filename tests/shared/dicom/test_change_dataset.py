"""The change data set of a bulk update: what may be changed, and to what."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR, keyword_for_tag

from shared.dicom.change_dataset import (
    UPDATABLE_TAGS,
    InvalidChange,
    parse_change_dataset,
)


def test_every_updatable_attribute_is_a_patient_or_study_attribute_and_no_sequence() -> None:
    assert len(UPDATABLE_TAGS) == 40
    for tag in UPDATABLE_TAGS:
        assert dictionary_VR(tag) != "SQ", keyword_for_tag(tag)
        assert tag >> 16 in (0x0008, 0x0010, 0x0020, 0x0040), keyword_for_tag(tag)


def test_a_valid_change_keeps_its_values_and_knows_when_it_needs_unicode() -> None:
    change = parse_change_dataset(
        {
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Anna"}]},
            "00101030": {"vr": "DS", "Value": [72.5]},
            "00081048": {"vr": "PN", "Value": [{"Alphabetic": "A^B"}, {"Alphabetic": "C^D"}]},
        }
    )
    assert change.tags == [0x00081048, 0x00100010, 0x00101030]
    assert str(change.dataset.PatientName) == "Müller^Anna"
    assert float(change.dataset.PatientWeight) == 72.5
    assert change.needs_unicode
    ascii_only = parse_change_dataset({"00100020": {"vr": "LO", "Value": ["ID-7"]}})
    assert not ascii_only.needs_unicode


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "DICOM JSON object"),
        ({}, "at least one attribute"),
        ({"0010": {"vr": "PN"}}, "is not a tag"),
        ({"0020000E": {"vr": "UI", "Value": ["1.2"]}}, "SeriesInstanceUID cannot be changed"),
        ({"00100010": {"vr": "LO", "Value": ["x"]}}, "must be an element with vr PN"),
        ({"00100020": {"vr": "LO", "Value": []}}, "cannot empty it"),
        ({"00100020": {"vr": "LO", "Value": ["a", "b"]}}, "holds one value only"),
        ({"00100040": {"vr": "CS", "Value": ["lowercase"]}}, "PatientSex is not a valid CS"),
        ({"00100030": {"vr": "DA", "Value": ["19901301"]}}, "PatientBirthDate is not a valid DA"),
    ],
)
def test_an_invalid_change_names_the_attribute_never_the_value(body: Any, message: str) -> None:
    with pytest.raises(InvalidChange) as raised:
        parse_change_dataset(body)
    assert message in str(raised.value)
    for value in ("lowercase", "19901301"):
        assert value not in str(raised.value)


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_no_tag_outside_the_list_is_accepted(tag: int) -> None:
    if tag in UPDATABLE_TAGS:
        return
    with pytest.raises(InvalidChange, match="cannot be changed"):
        parse_change_dataset({f"{tag:08X}": {"vr": "LO", "Value": ["x"]}})
