"""What the index stores for an extended query tag: search forms per VR, errors, private blocks."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from shared.dicom.query_tags import QueryTag, TagLevel
from shared.dicom.search_forms import datetime_key, time_key
from shared.uid_index.tag_values import TagValues, tag_value

GEN = "0000000000000001abcdef01"


def tag(
    path: str, vr: str, creator: str | None = None, level: TagLevel = TagLevel.STUDY
) -> QueryTag:
    return QueryTag(path, vr, level, GEN, private_creator=creator)


def element(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)}


@pytest.mark.parametrize(
    ("vr", "stored", "form"),
    [
        ("AS", "035Y", "035Y"),
        ("CS", "HEAD ", "HEAD"),
        ("LO", "Trial 7", "Trial 7"),
        ("SH", "ABC", "ABC"),
        ("AE", "STORESCU", "STORESCU"),
        ("UI", "1.2.3", "1.2.3"),
        ("DA", "20240229", "20240229"),
        ("TM", "1230", time_key("1230")),
        ("DT", "20240229123000", datetime_key("20240229123000")),
        ("IS", 12, 12),
        ("US", 65535, 65535),
        ("SS", -3, -3),
        ("UL", 7, 7),
        ("SL", -7, -7),
        ("DS", 1.5, 1.5),
        ("FD", 2, 2.0),
        ("FL", 0.25, 0.25),
    ],
)
def test_each_vr_is_stored_in_its_search_form(vr: str, stored: Any, form: Any) -> None:
    outcome = tag_value(tag("00181030", vr), {"00181030": element(vr, stored)})
    assert outcome.error is None and outcome.form == form
    assert outcome.element == element(vr, stored)


def test_a_person_name_is_stored_as_groups_and_words() -> None:
    outcome = tag_value(
        tag("00081070", "PN"), {"00081070": element("PN", {"Alphabetic": "Doe^Jane"})}
    )
    assert outcome.form == {"groups": ["doe^jane"], "words": ["doe", "jane"]}


@pytest.mark.parametrize(
    ("vr", "stored", "rule"),
    [
        ("AS", "35 years", "not a valid AS"),
        ("DA", "20240230", "not a valid DA"),
        ("TM", "2500", "not a valid TM"),
        ("DT", "2024-02-29", "not a valid DT"),
        ("UI", "01.2", "not a valid UID"),
        ("CS", "lower", "not a valid CS"),
        ("SH", "x" * 17, "at most 16"),
        ("US", 70000, "0 to 65535"),
        ("IS", "12a", "an integer"),
        ("DS", "1,5", "a finite number"),
    ],
)
def test_a_value_that_does_not_fit_is_an_error_naming_tag_and_rule(
    vr: str, stored: Any, rule: str
) -> None:
    outcome = tag_value(tag("00181030", vr), {"00181030": element(vr, stored)})
    assert outcome.form is None and outcome.error is not None
    assert outcome.error.startswith("(0018,1030) ProtocolName: ") and rule in outcome.error
    assert str(stored) not in outcome.error.split(": ", 1)[1] or len(str(stored)) < 3


def test_another_vr_in_the_file_is_an_error() -> None:
    outcome = tag_value(tag("00181030", "LO"), {"00181030": element("SH", "x")})
    assert outcome.error is not None and "stored with VR SH" in outcome.error


def test_absent_and_empty_values_are_not_errors() -> None:
    assert tag_value(tag("00181030", "LO"), {}) == tag_value(
        tag("00181030", "LO"), {"00181030": {"vr": "LO"}}
    )
    assert tag_value(tag("00181030", "LO"), {}).error is None


def test_only_the_first_of_several_values_is_indexed() -> None:
    outcome = tag_value(tag("00181030", "CS"), {"00181030": element("CS", "A", "B")})
    assert outcome.form == "A"


def private(creator: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"00090010": element("LO", creator), "00091001": value}


def test_a_private_tag_is_read_only_from_its_creators_block() -> None:
    registered = tag("00091001", "SS", creator="ACME")
    assert tag_value(registered, private("ACME", element("SS", -2))).form == -2
    assert tag_value(registered, private("OTHER", element("SS", -2))) == tag_value(registered, {})


def test_a_private_value_of_unknown_vr_is_decoded_as_the_registered_vr() -> None:
    raw = {"vr": "UN", "InlineBinary": base64.b64encode(struct.pack("<h", -2)).decode()}
    assert tag_value(tag("00091001", "SS", creator="ACME"), private("ACME", raw)).form == -2
    text = {"vr": "UN", "InlineBinary": base64.b64encode(b"035Y").decode()}
    assert tag_value(tag("00091001", "AS", creator="ACME"), private("ACME", text)).form == "035Y"


def test_values_are_grouped_by_level_and_errors_by_key() -> None:
    study = tag("00101010", "AS", level=TagLevel.STUDY)
    series = tag("00181030", "LO", level=TagLevel.SERIES)
    broken = tag("00080070", "LO", level=TagLevel.INSTANCE)
    metadata = {
        "00101010": element("AS", "035Y"),
        "00181030": element("LO", "P"),
        "00080070": element("SH", "x"),
    }
    values = TagValues.of([study, series, broken], metadata)
    assert values.forms == {"study": {study.key: "035Y"}, "series": {series.key: "P"}}
    assert values.elements == {
        "study": {"00101010": metadata["00101010"]},
        "series": {"00181030": metadata["00181030"]},
    }
    assert list(values.errors) == [broken.key]
