"""Registering extended query tags: Azure's rules, each refusal naming the tag and the rule."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.datadict import keyword_for_tag

from shared.dicom.query_tags import (
    MAX_QUERY_TAGS,
    SUPPORTED_VRS,
    QueryStatus,
    QueryTag,
    TagLevel,
    TagStatus,
    new_tags,
    parse_tag_path,
    with_query_status,
)
from shared.errors import BadRequest, Conflict

GEN = "0000000000000001abcdef01"


def add(*entries: Any, registered: list[QueryTag] | None = None) -> list[QueryTag]:
    return new_tags(list(entries), registered or [], GEN, "op")


def refused(*entries: Any, registered: list[QueryTag] | None = None) -> str:
    with pytest.raises(BadRequest) as caught:
        add(*entries, registered=registered)
    return caught.value.message


def test_a_standard_tag_takes_its_vr_from_the_dictionary() -> None:
    [tag] = add({"Path": "00101010", "Level": "Study"})
    assert (tag.path, tag.vr, tag.level, tag.private_creator) == (
        "00101010",
        "AS",
        TagLevel.STUDY,
        None,
    )
    assert (tag.status, tag.query_status, tag.operation_id) == (
        TagStatus.ADDING,
        QueryStatus.ENABLED,
        "op",
    )
    assert tag.name == "PatientAge" and tag.key == f"t00101010{GEN}"


def test_keywords_names_in_any_case_and_a_matching_vr_are_accepted() -> None:
    [tag] = add({"path": "ProtocolName", "vr": "lo", "level": "series"})
    assert (tag.path, tag.vr, tag.level) == ("00181030", "LO", TagLevel.SERIES)


def test_a_private_tag_needs_its_creator_and_vr() -> None:
    [tag] = add(
        {"Path": "04011001", "VR": "SS", "PrivateCreator": "MicrosoftPC", "Level": "Instance"}
    )
    assert (tag.vr, tag.private_creator, tag.name) == ("SS", "MicrosoftPC", "04011001")
    assert "PrivateCreator" in refused({"Path": "04011001", "VR": "SS", "Level": "Instance"})
    assert "needs its VR" in refused(
        {"Path": "04011001", "PrivateCreator": "MicrosoftPC", "Level": "Instance"}
    )
    assert "private creator" in refused(
        {"Path": "04010010", "VR": "LO", "PrivateCreator": "X", "Level": "Instance"}
    )
    assert "only for private tags" in refused(
        {"Path": "00101010", "PrivateCreator": "X", "Level": "Study"}
    )


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"Path": "00081115", "Level": "Series"}, "sequences"),  # ReferencedSeriesSequence
        ({"Path": "7FE00010", "VR": "OW", "Level": "Instance"}, "not supported"),
        ({"Path": "00100010", "Level": "Study"}, "already a search key"),  # PatientName
        ({"Path": "ModalitiesInStudy", "Level": "Study"}, "already a search key"),
        ({"Path": "00101010", "VR": "LO", "Level": "Study"}, "not the dictionary's"),
        ({"Path": "00101010", "Level": "Patient"}, "Level must be"),
        ({"Path": "00101010"}, "Level must be"),
        ({"Level": "Study"}, "has no Path"),
        ({"Path": "NotAKeyword", "Level": "Study"}, "neither 8 hex digits nor a DICOM keyword"),
        ({"Path": "00100000", "Level": "Study"}, "group length"),
        ({"Path": "00020010", "Level": "Study"}, "file"),
        ({"Path": "00280010", "VR": 3, "Level": "Study"}, "must be a string"),
        ({"Path": "00991234", "Level": "Study"}, "needs its PrivateCreator"),
        ({"Path": "00123456", "Level": "Study"}, "not in the DICOM dictionary"),
    ],
)
def test_each_refusal_names_the_problem(entry: dict[str, Any], words: str) -> None:
    assert words in refused(entry)


def test_the_body_is_a_non_empty_list_of_objects() -> None:
    for body in ({}, [], "x", None, [1]):
        with pytest.raises(BadRequest):
            new_tags(body, [], GEN, "op")


def test_a_tag_given_twice_or_already_added() -> None:
    entry = {"Path": "00101010", "Level": "Study"}
    assert "more than once" in refused(entry, {"Path": "PatientAge", "Level": "Series"})
    registered = add(entry)
    with pytest.raises(Conflict) as caught:
        add(entry, registered=registered)
    assert "(0010,1010) PatientAge" in caught.value.message


def test_at_most_128_tags() -> None:
    paths = [t for t in range(0x00091001, 0x00091001 + MAX_QUERY_TAGS + 1)]
    entries = [
        {"Path": f"{t:08X}", "VR": "LO", "PrivateCreator": "C", "Level": "Study"} for t in paths
    ]
    registered = add(*entries[:MAX_QUERY_TAGS])
    assert f"at most {MAX_QUERY_TAGS}" in refused(entries[-1], registered=registered)


def test_only_supported_vrs_are_accepted_for_private_tags() -> None:
    for vr in (
        "AE",
        "AS",
        "CS",
        "DA",
        "DS",
        "DT",
        "FD",
        "FL",
        "IS",
        "LO",
        "PN",
        "SH",
        "SL",
        "SS",
        "TM",
        "UI",
        "UL",
        "US",
    ):
        assert add({"Path": "00091001", "VR": vr, "PrivateCreator": "C", "Level": "Study"})
    for vr in ("OB", "UN", "LT", "ST", "UT", "AT", "SQ"):
        refused({"Path": "00091001", "VR": vr, "PrivateCreator": "C", "Level": "Study"})
    assert len(SUPPORTED_VRS) == 18


@given(st.integers(0, 0xFFFFFFFF))
def test_a_hex_path_is_its_tag(tag: int) -> None:
    assert parse_tag_path(f"{tag:08x}") == f"{tag:08X}"


def test_a_keyword_path_is_its_tag() -> None:
    assert parse_tag_path("PatientAge") == "00101010"
    with pytest.raises(BadRequest):
        parse_tag_path("patientage1")
    assert keyword_for_tag(0x00101010) == "PatientAge"


def test_registrations_survive_their_json() -> None:
    [tag] = add({"Path": "04011001", "VR": "SS", "PrivateCreator": "P", "Level": "Instance"})
    assert QueryTag.from_json(tag.to_json()) == tag


def test_query_status_patch() -> None:
    [tag] = add({"Path": "00101010", "Level": "Study"})
    assert with_query_status(tag, {"QueryStatus": "Disabled"}).query_status is QueryStatus.DISABLED
    assert with_query_status(tag, {"queryStatus": "enabled"}).query_status is QueryStatus.ENABLED
    for body in ({}, {"QueryStatus": "Off"}, {"QueryStatus": "Enabled", "Level": "Study"}, []):
        with pytest.raises(BadRequest):
            with_query_status(tag, body)
