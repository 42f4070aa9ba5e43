"""The Cosmos SQL built for a search: filters, routing, paging, and parameters only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.dicom.query import SearchQuery
from shared.dicom.query_levels import Level
from shared.dicom.query_tags import QueryTag, TagLevel, TagStatus
from shared.errors import BadRequest
from shared.uid_index.cosmos.search_sql import aggregates_query, page_size, search_query
from shared.uid_index.keys import SeriesRef, StudyRef
from shared.web.search_params import parse_search

PARTITION = "Microsoft.Default"


def built(level: Level, *params: tuple[str, str], **path: str) -> tuple[str, dict[str, object]]:
    query = search_query(parse_search(level, params, **path), PARTITION)
    return query.text, {p["name"]: p["value"] for p in query.parameters}


def test_study_search_reads_study_documents_in_id_order() -> None:
    text, params = built(Level.STUDY, ("limit", "10"), ("offset", "5"))
    assert text.startswith("SELECT TOP @p2 ")
    assert text.endswith("WHERE c.type = @p0 AND c.partition = @p1 ORDER BY c.id")
    assert params == {"@p0": "study", "@p1": PARTITION, "@p2": 16}


def test_instances_are_visible_only_once_created() -> None:
    text, _ = built(Level.INSTANCE)
    assert "c.status = 'created'" in text


def test_study_uids_match_on_the_partition_key() -> None:
    text, params = built(Level.STUDY, ("StudyInstanceUID", "1.2,1.3"))
    assert "c.pk IN (@p2, @p3)" in text
    assert params["@p2"] == StudyRef(PARTITION, "1.2").key


def test_a_study_in_the_path_confines_the_query_to_its_partition() -> None:
    parsed = parse_search(Level.INSTANCE, [], study_uid="1.2", series_uid="1.3")
    query = search_query(parsed, PARTITION)
    key = StudyRef(PARTITION, "1.2").key
    assert query.partition_key == key
    values = [p["value"] for p in query.parameters]
    assert key in values and SeriesRef(StudyRef(PARTITION, "1.2"), "1.3").key in values
    assert "c.pk = " in query.text and "c.seriesKey = " in query.text


def test_matching_types_become_indexed_predicates() -> None:
    text, params = built(
        Level.INSTANCE,
        ("PatientName", "doe*"),
        ("StudyDescription", "*CHEST?"),
        ("StudyDate", "20200101-"),
        ("StudyTime", "12"),
        ("SeriesInstanceUID", "1.2"),
        ("InstanceNumber", "3"),
    )
    groups = "EXISTS(SELECT VALUE v FROM v IN c.q.PatientName.groups WHERE (STARTSWITH(v, @p2)))"
    assert groups in text
    assert params["@p2"] == "doe"
    assert "(CONTAINS(c.q.StudyDescription, @p3) AND LENGTH(c.q.StudyDescription) >= @p4)" in text
    assert (params["@p3"], params["@p4"]) == ("CHEST", 6)
    assert "(c.q.StudyDate >= @p5)" in text
    assert "(c.q.StudyTime >= @p6 AND c.q.StudyTime <= @p7)" in text
    assert "c.seriesUID = @p8" in text
    assert "c.q.InstanceNumber = @p9" in text and params["@p9"] == 3


def test_fuzzy_names_need_every_word() -> None:
    text, params = built(Level.STUDY, ("PatientName", "joh do"), ("fuzzymatching", "true"))
    assert text.count("IN c.q.PatientName.words WHERE STARTSWITH(w, ") == 2
    assert {params["@p2"], params["@p3"]} == {"joh", "do"}


def test_modalities_in_study_matches_any_modality() -> None:
    text, _ = built(Level.STUDY, ("ModalitiesInStudy", "CT"))
    assert "EXISTS(SELECT VALUE v FROM v IN c.q.ModalitiesInStudy WHERE v = @p2)" in text


def test_aggregates_query_names_each_parent_once() -> None:
    query = aggregates_query(PARTITION, ["a", "b", "a"], ["s"])
    values = [p["value"] for p in query.parameters]
    assert values == [PARTITION, "a", "b", "study-a", "study-b", "series-s"]
    assert query.partition_key is None


def test_page_size_holds_one_more_than_the_page() -> None:
    assert page_size(SearchQuery(Level.STUDY, limit=10, offset=20)) == 31


SENTINEL = "§"


@given(st.text(min_size=1, max_size=12))
def test_values_never_reach_the_sql_text(text: str) -> None:
    value = SENTINEL + text
    for key in ("PatientName", "AccessionNumber", "StudyDescription"):
        try:
            sql, _ = built(Level.STUDY, (key, value))
        except BadRequest:
            continue  # refused values reach no query at all
        assert SENTINEL not in sql


def test_no_wildcard_becomes_a_regular_expression() -> None:
    text, _ = built(Level.STUDY, ("PatientID", "*a" * 8 + "*b"), ("PatientName", "d?e*"))
    assert "RegexMatch" not in text


@pytest.mark.parametrize(
    ("pattern", "condition", "values"),
    [
        ("abc*", "(STARTSWITH(c.q.PatientID, @p2))", ["abc"]),
        ("*abc", "(ENDSWITH(c.q.PatientID, @p2))", ["abc"]),
        ("*abc*", "(CONTAINS(c.q.PatientID, @p2))", ["abc"]),
        (
            "a*b",
            "(STARTSWITH(c.q.PatientID, @p2) AND ENDSWITH(c.q.PatientID, @p3)"
            " AND LENGTH(c.q.PatientID) >= @p4)",
            ["a", "b", 2],
        ),
    ],
)
def test_wildcards_become_linear_string_functions(
    pattern: str, condition: str, values: list[object]
) -> None:
    query = search_query(parse_search(Level.STUDY, [("PatientID", pattern)]), PARTITION)
    assert condition in query.text
    assert [p["value"] for p in query.parameters[2 : 2 + len(values)]] == values


def test_exact_index_terms_keep_top_and_need_no_check() -> None:
    query = search_query(parse_search(Level.STUDY, [("PatientID", "*abc*")]), PARTITION)
    assert query.text.startswith("SELECT TOP ") and query.checks == ()


def test_an_ordered_pattern_is_checked_on_the_projected_value() -> None:
    query = search_query(parse_search(Level.STUDY, [("PatientID", "*a*b*")]), PARTITION)
    assert not query.text.startswith("SELECT TOP ")
    assert "c.q.PatientID AS w0 FROM c" in query.text
    assert query.admits({"w0": "xaxbx"})
    assert not query.admits({"w0": "xbxax"})  # both letters, wrong order
    assert not query.admits({"w0": ["ab"]}) and not query.admits({})


def test_name_groups_are_checked_element_by_element() -> None:
    query = search_query(parse_search(Level.STUDY, [("PatientName", "d?e*")]), PARTITION)
    assert "c.q.PatientName.groups AS w0" in query.text
    assert query.admits({"w0": ["yamada^tarou", "doe^john"]})
    assert not query.admits({"w0": ["de^john"]}) and not query.admits({"w0": "doe"})


def test_extended_query_tags_are_matched_under_their_level_and_key() -> None:
    age = QueryTag("00101010", "AS", TagLevel.STUDY, "0" * 24, status=TagStatus.READY)
    name = QueryTag("00081050", "PN", TagLevel.SERIES, "1" * 24, status=TagStatus.READY)
    parsed = parse_search(
        Level.INSTANCE,
        [("PatientAge", "042Y"), ("PerformingPhysicianName", "doe*")],
        tags=(age, name),
    )
    query = search_query(parsed, PARTITION)
    assert f"c.xq.study.{age.key} = @p2" in query.text
    assert f"c.xq.series.{name.key}.groups" in query.text
    assert "c.xjson" in query.text
