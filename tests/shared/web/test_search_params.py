"""Parsing QIDO-RS query parameters: matching types, includefield, paging and refusals."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR

from shared.dicom.attributes import (
    COMPUTED_ATTRIBUTES,
    INSTANCE_ATTRIBUTES,
    SERIES_ATTRIBUTES,
    STUDY_ATTRIBUTES,
)
from shared.dicom.query import (
    DEFAULT_LIMIT,
    RangeMatch,
    SearchQuery,
    ValueMatch,
    WildcardMatch,
    WordPrefixMatch,
)
from shared.dicom.query_levels import Level
from shared.errors import BadRequest
from shared.web.search_params import MAX_LIMIT, MAX_OFFSET, MAX_WILDCARDS, parse_search


def parse(level: Level = Level.STUDY, **params: str) -> SearchQuery:
    return parse_search(level, params.items())


def only_match(query: SearchQuery) -> object:
    [match] = query.matches
    return match


def test_single_value_and_uid_list() -> None:
    assert only_match(parse(PatientID="ID1")) == ValueMatch("PatientID", ("ID1",))
    assert only_match(parse(StudyInstanceUID="1.2,1.3")) == ValueMatch(
        "StudyInstanceUID", ("1.2", "1.3")
    )
    assert only_match(parse(Level.SERIES, SeriesNumber="7")) == ValueMatch("SeriesNumber", (7,))


def test_keys_by_keyword_or_tag() -> None:
    assert parse(**{"00100020": "ID1"}) == parse(PatientID="ID1")
    assert parse(**{"0020000d": "1.2"}) == parse(StudyInstanceUID="1.2")


def test_universal_matching_returns_the_attribute_without_filtering() -> None:
    query = parse(StudyDescription="", PatientName="*")
    assert query.matches == ()
    assert {"StudyDescription", "PatientName"} <= query.include


def test_wildcards_on_strings() -> None:
    assert only_match(parse(AccessionNumber="A1?3*")) == WildcardMatch("AccessionNumber", "A1?3*")


def test_person_names_are_folded() -> None:
    assert only_match(parse(PatientName="MÜLLER^Jürgen^")) == ValueMatch(
        "PatientName", ("muller^jurgen",)
    )
    assert only_match(parse(PatientName="mül*")) == WildcardMatch("PatientName", "mul*")
    assert only_match(parse(PatientName="Yamada^Tarou=山田^太郎=")) == ValueMatch(
        "PatientName", ("yamada^tarou", "山田^太郎")
    )
    assert parse(PatientName="==").matches == ()


def test_fuzzy_matching_splits_words() -> None:
    query = parse(PatientName="Joh DÖ", fuzzymatching="true")
    assert only_match(query) == WordPrefixMatch("PatientName", ("joh", "do"))
    assert parse(PatientName="*", fuzzymatching="true").matches == ()


def test_date_and_time_ranges() -> None:
    assert only_match(parse(StudyDate="20200101-20201231")) == RangeMatch(
        "StudyDate", "20200101", "20201231"
    )
    assert only_match(parse(StudyDate="20200101-")) == RangeMatch("StudyDate", "20200101", None)
    assert only_match(parse(StudyDate="-20200101")) == RangeMatch("StudyDate", None, "20200101")
    assert only_match(parse(StudyTime="10-1230")) == RangeMatch(
        "StudyTime", "100000.000000", "123059.999999"
    )
    assert only_match(parse(StudyTime="1015")) == RangeMatch(
        "StudyTime", "101500.000000", "101559.999999"
    )


def test_includefield_forms() -> None:
    query = parse_search(
        Level.STUDY,
        [("includefield", "00081030,Modality"), ("includefield", "PatientAge")],
    )
    assert query.include == {"StudyDescription", "Modality", "PatientAge"}
    assert not query.include_all
    assert parse(includefield="all").include_all


def test_paging_defaults_and_bounds() -> None:
    query = parse()
    assert (query.limit, query.offset) == (DEFAULT_LIMIT, 0)
    query = parse(limit=str(MAX_LIMIT), offset=str(MAX_OFFSET))
    assert (query.limit, query.offset) == (MAX_LIMIT, MAX_OFFSET)


def test_returned_levels_follow_the_path() -> None:
    assert parse(Level.SERIES).returned_levels == (Level.STUDY, Level.SERIES)
    in_study = parse_search(Level.INSTANCE, [], study_uid="1.2")
    assert in_study.returned_levels == (Level.SERIES, Level.INSTANCE)
    in_series = parse_search(Level.INSTANCE, [], study_uid="1.2", series_uid="1.3")
    assert in_series.returned_levels == (Level.INSTANCE,)


@pytest.mark.parametrize(
    ("level", "params", "named"),
    [
        (Level.STUDY, {"Modality": "CT"}, "Modality"),
        (Level.STUDY, {"SOPInstanceUID": "1.2"}, "SOPInstanceUID"),
        (Level.SERIES, {"ModalitiesInStudy": "CT"}, "ModalitiesInStudy"),
        (Level.STUDY, {"PatientSex": "F"}, "PatientSex"),
        (Level.STUDY, {"00100040": "F"}, "PatientSex"),
        (Level.STUDY, {"NoSuchKeyword": "x"}, "neither"),
        (Level.STUDY, {"StudyDate": "-"}, "StudyDate"),
        (Level.STUDY, {"StudyDate": "2020"}, "StudyDate"),
        (Level.STUDY, {"StudyDate": "20201301"}, "StudyDate"),
        (Level.STUDY, {"StudyDate": "20201231-20200101"}, "StudyDate"),
        (Level.STUDY, {"StudyTime": "25"}, "StudyTime"),
        (Level.STUDY, {"PatientName": "Doe*=山田*"}, "PatientName"),
        (Level.STUDY, {"StudyInstanceUID": "1.2.*"}, "StudyInstanceUID"),
        (Level.STUDY, {"StudyInstanceUID": "1.2,"}, "StudyInstanceUID"),
        (Level.SERIES, {"SeriesNumber": "one"}, "SeriesNumber"),
        (Level.STUDY, {"limit": "0"}, "limit"),
        (Level.STUDY, {"limit": str(MAX_LIMIT + 1)}, "limit"),
        (Level.STUDY, {"offset": "-1"}, "offset"),
        (Level.STUDY, {"offset": str(MAX_OFFSET + 1)}, "offset"),
        (Level.STUDY, {"fuzzymatching": "yes"}, "fuzzymatching"),
        (Level.STUDY, {"includefield": "NoSuchKeyword"}, "includefield"),
    ],
)
def test_refusals_name_the_attribute(level: Level, params: dict[str, str], named: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_search(level, params.items())
    assert named in refused.value.message


@pytest.mark.parametrize(
    ("key", "value", "limit"),
    [
        ("PatientID", "*a" * MAX_WILDCARDS + "*", f"at most {MAX_WILDCARDS} wildcards"),
        ("PatientName", "?" * (MAX_WILDCARDS + 1), f"at most {MAX_WILDCARDS} wildcards"),
        ("PatientID", "a" * 65, "at most 64 characters"),
        ("AccessionNumber", "A" * 17, "at most 16 characters"),
        ("ModalitiesInStudy", "C" * 17, "at most 16 characters"),
        ("PatientName", "d" * 65 + "*", "at most 64 characters"),
        ("PatientName", "doe=" + "山" * 65, "at most 64 characters"),
        ("PatientName", "d" * 65, "at most 64 characters"),
    ],
)
def test_values_past_the_caps_are_refused_naming_key_and_limit(
    key: str, value: str, limit: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_search(Level.STUDY, [(key, value)])
    assert refused.value.message.startswith(key) and limit in refused.value.message


def test_values_at_the_caps_are_searched() -> None:
    at_cap = "*a" * (MAX_WILDCARDS // 2)
    assert only_match(parse(PatientID=at_cap)) == WildcardMatch("PatientID", at_cap)
    # * may stand for nothing, so it does not count towards the length.
    assert only_match(parse(PatientID="*" + "a" * 64 + "*")).pattern == "*" + "a" * 64 + "*"
    assert only_match(parse(PatientName="d" * 64)) == ValueMatch("PatientName", ("d" * 64,))


def test_repeated_key_is_refused() -> None:
    with pytest.raises(BadRequest, match="PatientID"):
        parse_search(Level.STUDY, [("PatientID", "a"), ("00100020", "b")])


# Values carry a character no message uses, so an echoed value would be seen.
SENTINEL = "§"
values = st.text(min_size=1, max_size=20).map(lambda text: SENTINEL + text)
keys = st.sampled_from(
    [
        "PatientName",
        "PatientID",
        "StudyDate",
        "StudyTime",
        "StudyInstanceUID",
        "SeriesNumber",
        "ModalitiesInStudy",
        "limit",
        "offset",
        "fuzzymatching",
        "includefield",
        "00100010",
        "Rows",
        "PatientSex",
    ]
)


@given(st.lists(st.tuples(keys, values), max_size=6), st.sampled_from(list(Level)))
def test_any_parameters_parse_or_are_refused_without_echo(
    params: list[tuple[str, str]], level: Level
) -> None:
    try:
        query = parse_search(level, params)
    except BadRequest as refused:
        assert SENTINEL not in refused.message
        return
    assert 1 <= query.limit <= MAX_LIMIT and 0 <= query.offset <= MAX_OFFSET


dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


@given(dates, dates)
def test_any_ordered_date_range_parses(a: date, b: date) -> None:
    low, high = sorted((a, b))
    text = f"{low:%Y%m%d}-{high:%Y%m%d}"
    assert only_match(parse(StudyDate=text)) == RangeMatch(
        "StudyDate", f"{low:%Y%m%d}", f"{high:%Y%m%d}"
    )


uid = st.lists(st.integers(0, 10**6).map(str), min_size=2, max_size=6).map(".".join)


@given(st.lists(uid, min_size=1, max_size=10))
def test_any_uid_list_parses(uid_list: list[str]) -> None:
    match = only_match(parse(StudyInstanceUID=",".join(uid_list)))
    assert match == ValueMatch("StudyInstanceUID", tuple(uid_list))


@given(st.text(alphabet=st.characters(blacklist_characters="*?,\\"), min_size=1, max_size=16))
def test_any_plain_string_is_a_single_value(text: str) -> None:
    assert only_match(parse(StudyDescription=text)) == ValueMatch("StudyDescription", (text,))


def test_every_matching_key_is_indexed_and_parses() -> None:
    stored = {*STUDY_ATTRIBUTES, *SERIES_ATTRIBUTES, *INSTANCE_ATTRIBUTES}
    for level in Level:
        for keyword in level.matching_keys():
            assert keyword in stored or keyword in COMPUTED_ATTRIBUTES
            vr = dictionary_VR(keyword)
            sample = {"UI": "1.2", "DA": "20200101", "TM": "12", "IS": "1"}.get(vr, "A*")
            assert parse(level, **{keyword: sample}).matches
