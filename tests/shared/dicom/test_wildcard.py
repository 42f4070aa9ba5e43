"""DICOM wildcard matching: the exact matcher against fnmatch-style semantics, and the index terms
as conditions every match meets."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from shared.dicom.wildcard import IndexTerms, index_terms, matches


def reference(pattern: str, value: str) -> bool:
    """fnmatch's semantics without its bracket classes: ``*`` any run, ``?`` any one character."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch("".join(parts), value, re.DOTALL) is not None


def holds(terms: IndexTerms, value: str) -> bool:
    """The index conditions, as Cosmos DB evaluates them."""
    return (
        value.startswith(terms.prefix)
        and value.endswith(terms.suffix)
        and all(run in value for run in terms.contained)
        and len(value) >= terms.min_length
    )


letters = st.sampled_from(list("ab.^$()[]\\ é山"))
patterns = st.text(st.one_of(letters, st.sampled_from("*?")), max_size=8)
values = st.text(letters, max_size=10)


@given(patterns, values)
@example("*a*b*", "ba")
@example("ab*b*bc", "abxbc")
@example("a*a", "a")
@example("*?a", "a")
def test_matches_as_fnmatch(pattern: str, value: str) -> None:
    assert matches(pattern, value) == reference(pattern, value)


@given(patterns.filter(lambda p: set(p) & set("*?")), values)
@example("ab*b*bc", "abxbc")
@example("*a*a*", "a")
def test_index_terms_hold_for_every_match_and_decide_when_exact(pattern: str, value: str) -> None:
    terms = index_terms(pattern)
    if matches(pattern, value):
        assert holds(terms, value)
    elif terms.exact:
        assert not holds(terms, value)


@given(st.text(letters, min_size=1, max_size=6))
def test_a_single_literal_run_is_exact(run: str) -> None:
    for pattern, expected in (
        (f"{run}*", (run, "", ())),
        (f"*{run}", ("", run, ())),
        (f"*{run}*", ("", "", (run,))),
    ):
        terms = index_terms(pattern)
        assert terms.exact and (terms.prefix, terms.suffix, terms.contained) == expected


def test_order_and_single_characters_are_not_exact() -> None:
    assert not index_terms("*a*b*").exact
    assert not index_terms("a*b").exact  # the length decides "a" against a*a
    assert not index_terms("ab?").exact
    assert not index_terms("**ab**ab**").exact


def test_runs_implied_by_another_term_are_left_out() -> None:
    terms = index_terms("abc*b*bc*abcd*?")
    assert (terms.prefix, terms.suffix, terms.contained, terms.min_length) == (
        "abc",
        "",
        ("abcd",),
        11,
    )


def test_a_value_built_to_make_a_backtracking_matcher_explode_is_answered() -> None:
    value = "a" * 60 + "cdef"
    assert not matches("*a" * 8 + "*b", value)
    assert matches("*a" * 8 + "*f", value)
    assert matches("*a?" * 16 + "*", value)
