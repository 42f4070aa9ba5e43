"""Reading STOW-RS answers per instance, and matching them back to the files sent."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cli.sources import Outcome
from cli.stow_results import InstanceResult, match_results, meaning, parse_stow_response
from shared.services.store import Outcome as ServerOutcome
from shared.services.store_response import store_response

STUDY = "1.2.3"


def server(*outcomes: ServerOutcome) -> tuple[int, Any]:
    """The status and dataset this project's server answers for these outcomes."""
    return store_response(list(outcomes), "http://dicomweb.example/v2", None)


def stored(uid: str) -> ServerOutcome:
    return ServerOutcome("1.2.840.10008.5.1.4.1.1.2", uid, STUDY, "1.2.3.4")


def failed(uid: str | None, code: int, *comments: str) -> ServerOutcome:
    return ServerOutcome(None, uid, failure=code, comments=comments)


def test_stored_present_and_failed_instances_of_a_partial_answer() -> None:
    status, dataset = server(
        stored("1.1"),
        failed("1.2", 45070),
        failed("1.3", 43264, "(0020,000D) StudyInstanceUID is not a valid UID"),
    )
    assert status == 202
    assert sorted(parse_stow_response(dataset), key=lambda r: str(r.sop_instance_uid)) == [
        InstanceResult("1.1", Outcome.STORED),
        InstanceResult("1.2", Outcome.PRESENT),
        InstanceResult(
            "1.3",
            Outcome.FAILED,
            "43264 (validation failed): (0020,000D) StudyInstanceUID is not a valid UID",
            43264,
        ),
    ]


def test_v2_warnings_keep_the_instance_stored_and_say_why() -> None:
    warned = stored("1.1")
    warned.comments = ("(0010,0030) PatientBirthDate is not a valid DA",)
    status, dataset = server(warned)
    assert status == 202
    [result] = parse_stow_response(dataset)
    assert result.outcome is Outcome.STORED
    assert result.reason == (
        "warning 1 (attributes failed validation (stored, not indexed)): "
        "(0010,0030) PatientBirthDate is not a valid DA"
    )


def test_an_answer_matches_files_by_uid_whatever_its_order() -> None:
    status, dataset = server(stored("b"), failed("a", 45070), stored("c"))
    results = match_results(["c", "a", "b"], parse_stow_response(dataset), status)
    assert [(r.sop_instance_uid, r.outcome) for r in results] == [
        ("c", Outcome.STORED),
        ("a", Outcome.PRESENT),
        ("b", Outcome.STORED),
    ]


def test_failures_without_a_uid_go_in_order_to_the_files_left() -> None:
    status, dataset = server(failed(None, 272), stored("b"), failed(None, 43264))
    results = match_results([None, "b", "x"], parse_stow_response(dataset), status)
    assert [(r.sop_instance_uid, r.outcome, r.reason[:5]) for r in results] == [
        (None, Outcome.FAILED, "272 ("),
        ("b", Outcome.STORED, ""),
        ("x", Outcome.FAILED, "43264"),
    ]


def test_the_same_uid_twice_in_a_batch() -> None:
    status, dataset = server(stored("a"), failed("a", 45071))
    results = match_results(["a", "a"], parse_stow_response(dataset), status)
    assert sorted(r.outcome for r in results) == [Outcome.FAILED, Outcome.STORED]
    assert any(r.reason == "45071 (being stored by another request)" for r in results)


def test_an_instance_missing_from_the_answer() -> None:
    _, dataset = server(stored("a"))
    assert [r.outcome for r in match_results(["a", "b"], parse_stow_response(dataset), 202)] == [
        Outcome.STORED,
        Outcome.FAILED,
    ]
    # 200 means every instance was stored, even from a server that lists none of them.
    assert [r.outcome for r in match_results(["a", "b"], [], 200)] == [Outcome.STORED] * 2
    assert match_results(["b"], [], 409)[0].reason == "not in the server's response"


def test_an_answer_of_another_server_with_integer_strings_and_no_value() -> None:
    dataset = {
        "00081198": {
            "vr": "SQ",
            "Value": [
                {"00081155": {"vr": "UI", "Value": ["9.1"]}, "00081197": {"vr": "US"}},
                {"00081155": {"vr": "UI", "Value": ["9.2"]}, "00081197": {"Value": ["49442"]}},
            ],
        },
        "00081199": {"vr": "SQ"},
    }
    assert parse_stow_response(dataset) == [
        InstanceResult("9.1", Outcome.FAILED, "no failure reason given"),
        InstanceResult("9.2", Outcome.FAILED, "49442 (transfer syntax not supported)", 49442),
    ]


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (272, "processing failure"),
        (290, "SOP class not supported"),
        (43265, "StudyInstanceUID does not match the study in the URL"),
        (45070, "already stored"),
        (0xA7FF, "refused: out of resources"),
        (0xA9AB, "data set does not match SOP class"),
        (0xC005, "cannot understand"),
        (12345, "unknown reason"),
    ],
)
def test_meanings(code: int, text: str) -> None:
    assert meaning(code) == text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["00081198", "00081199", "00081197", "00081155", "Value", "vr"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@given(JSON)
def test_any_json_parses_to_results_without_raising(dataset: object) -> None:
    results = parse_stow_response(dataset)
    assert all(isinstance(r.outcome, Outcome) for r in results)
    assert len(match_results(["a", None], results, 202)) == 2


CODE_VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)


@given(failure=CODE_VALUES, warning=CODE_VALUES)
@example(failure=float("inf"), warning=float("nan"))
@example(failure=float("nan"), warning=float("-inf"))
def test_any_failure_or_warning_code_value_parses_without_raising(
    failure: object, warning: object
) -> None:
    # json.loads reads NaN, Infinity and 1e999 as floats that have no integer value.
    dataset = {
        "00081198": {"vr": "SQ", "Value": [{"00081197": {"vr": "US", "Value": [failure]}}]},
        "00081199": {"vr": "SQ", "Value": [{"00081196": {"vr": "US", "Value": [warning]}}]},
    }
    results = parse_stow_response(dataset)
    assert [r.outcome for r in results][1:] == [Outcome.STORED]
    assert results[0].outcome in (Outcome.FAILED, Outcome.PRESENT)
