"""The change feed's query parameters, v1 and v2, as the Azure DICOM service binds them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import BadRequest
from shared.web.change_feed_params import (
    EARLIEST,
    LATEST,
    FeedPage,
    include_metadata,
    parse_feed_page,
)


def test_defaults_differ_by_version() -> None:
    assert parse_feed_page(1, []) == FeedPage(0, 10, True)
    assert parse_feed_page(2, []) == FeedPage(0, 100, True, (EARLIEST, LATEST))


def test_names_ignore_case_and_the_first_of_a_repeated_one_counts() -> None:
    page = parse_feed_page(1, [("OFFSET", "7"), ("Limit", "3"), ("limit", "200"), ("x", "y")])
    assert (page.offset, page.limit) == (7, 3)
    assert include_metadata([("INCLUDEMETADATA", "False")]) is False


def test_a_v2_window_is_read_with_its_time_zone() -> None:
    page = parse_feed_page(
        2, [("startTime", "2023-05-10T16:00:00Z"), ("endTime", "2023-05-10T18:00:00+01:00")]
    )
    start = datetime(2023, 5, 10, 16, tzinfo=UTC).timestamp()
    assert page.window == (start, start + 3600)


@pytest.mark.parametrize(
    ("version", "params", "message"),
    [
        (1, [("limit", "101")], "The field limit must be between 1 and 100."),
        (2, [("limit", "201")], "The field limit must be between 1 and 200."),
        (2, [("offset", "-1")], "The query parameter 'offset' is invalid."),
        (2, [("limit", "1.5")], "The value is not valid for limit."),
        (2, [("limit", "1_0")], "The value is not valid for limit."),
        (2, [("offset", "\u0663")], "The value is not valid for offset."),
        (2, [("includemetadata", "1")], "The value is not valid for includeMetadata."),
        (2, [("startTime", "2023-05-10T16:00:00")], "must specify a time zone"),
        (2, [("endTime", "yesterday")], "The value is not valid for endTime."),
        (
            2,
            [("startTime", "2023-05-10T16:00:00Z"), ("endTime", "2023-05-10T15:00:00Z")],
            "must occur strictly before the end time",
        ),
    ],
)
def test_bad_values_are_400_in_azure_s_words(
    version: int, params: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_feed_page(version, params)
    assert message in str(refused.value)


def test_v1_ignores_the_window() -> None:
    assert parse_feed_page(1, [("startTime", "nonsense")]).window is None
