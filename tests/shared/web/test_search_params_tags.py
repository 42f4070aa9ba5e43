"""Parsing searches on extended query tags: each VR's matching rules, levels, status."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.dicom.query import RangeMatch, SearchQuery, ValueMatch, WildcardMatch, WordPrefixMatch
from shared.dicom.query_levels import Level
from shared.dicom.query_tags import QueryStatus, QueryTag, TagLevel, TagStatus
from shared.dicom.search_forms import datetime_key, time_key
from shared.errors import BadRequest
from shared.web.search_params import parse_search

GEN = "0000000000000001abcdef01"


def registered(path: str, vr: str, level: TagLevel = TagLevel.STUDY, **kw: object) -> QueryTag:
    tag = QueryTag(path, vr, level, GEN, status=TagStatus.READY)
    return replace(tag, **kw)  # type: ignore[arg-type]


AGE = registered("00101010", "AS")
PROTOCOL = registered("00181030", "LO", TagLevel.SERIES)
PRIVATE = registered("00411001", "SS", TagLevel.INSTANCE, private_creator="ACME")
STAMP = registered("0008002A", "DT", TagLevel.INSTANCE)
MOMENT = registered("00080032", "TM", TagLevel.INSTANCE)
THICKNESS = registered("00180050", "DS", TagLevel.INSTANCE)
PHYSICIAN = registered("00081050", "PN", TagLevel.SERIES)
FRAME = registered("00200052", "UI", TagLevel.SERIES)
TAGS = (AGE, PROTOCOL, PRIVATE, STAMP, MOMENT, THICKNESS, PHYSICIAN, FRAME)


def parse(level: Level = Level.INSTANCE, **params: str) -> SearchQuery:
    return parse_search(level, params.items(), tags=TAGS)


def only(query: SearchQuery) -> object:
    [match] = query.matches
    return match


def test_each_vr_gets_its_matching_rule() -> None:
    assert only(parse(PatientAge="042Y")) == ValueMatch("PatientAge", ("042Y",))
    assert only(parse(**{"00181030": "Knee*"})) == WildcardMatch("ProtocolName", "Knee*")
    assert only(parse(**{"00411001": "-2"})) == ValueMatch("00411001", (-2,))
    assert only(parse(SliceThickness="2.50")) == ValueMatch("SliceThickness", (2.5,))
    assert only(parse(FrameOfReferenceUID="1.2,1.3")) == ValueMatch(
        "FrameOfReferenceUID", ("1.2", "1.3")
    )
    assert only(parse(AcquisitionTime="12")) == RangeMatch(
        "AcquisitionTime", time_key("12"), time_key("12", upper=True)
    )
    assert only(parse(AcquisitionDateTime="2024-202402")) == RangeMatch(
        "AcquisitionDateTime", datetime_key("2024"), datetime_key("202402", upper=True)
    )
    fuzzy = parse(PerformingPhysicianName="Doe J", fuzzymatching="true")
    assert only(fuzzy) == WordPrefixMatch("PerformingPhysicianName", ("doe", "j"))


def test_the_query_names_its_tags_and_returns_them() -> None:
    query = parse(PatientAge="042Y", **{"00411001": "3"})
    assert query.extended == (AGE, PRIVATE)
    assert query.extended_tag("00411001") is PRIVATE and query.extended_tag("Modality") is None
    assert {"PatientAge", "00411001"} <= (query.returned or set())
    assert "00411001" in (parse(includefield="00411001").returned or set())


def test_a_tag_is_searched_at_its_level_and_below() -> None:
    assert parse(Level.SERIES, PatientAge="042Y").matches
    with pytest.raises(BadRequest, match="series-level"):
        parse(Level.STUDY, ProtocolName="x")
    with pytest.raises(BadRequest, match="instance-level"):
        parse(Level.SERIES, SliceThickness="1")


def test_a_tag_being_added_is_refused_and_a_disabled_one_ignored() -> None:
    adding = replace(AGE, status=TagStatus.ADDING)
    with pytest.raises(BadRequest, match="being added"):
        parse_search(Level.STUDY, [("PatientAge", "042Y")], tags=(adding,))
    disabled = replace(AGE, query_status=QueryStatus.DISABLED)
    query = parse_search(Level.STUDY, [("PatientAge", "042Y")], tags=(disabled,))
    assert query.matches == () and query.ignored == ("PatientAge",)


def test_unregistered_tags_stay_unsupported() -> None:
    with pytest.raises(BadRequest, match="not a supported search key"):
        parse_search(Level.STUDY, [("PatientAge", "042Y")])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SliceThickness", "thin"),
        ("SliceThickness", "nan"),
        ("00411001", "1.5"),
        ("AcquisitionDateTime", "2024-13"),
        ("AcquisitionTime", "25"),
        ("PatientAge", "0042Y"),
        ("FrameOfReferenceUID", "1..2"),
    ],
)
def test_values_no_stored_value_could_match_are_refused(name: str, value: str) -> None:
    with pytest.raises(BadRequest, match=name):
        parse(**{name: value})


@given(st.integers(-(2**15), 2**15 - 1))
def test_integers_match_as_numbers(number: int) -> None:
    assert only(parse(**{"00411001": str(number)})) == ValueMatch("00411001", (number,))
