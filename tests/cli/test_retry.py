"""The retry schedule: exponential, jittered, bounded, and never earlier than Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.retry import RetryPolicy, parse_retry_after

POLICY = RetryPolicy(attempts=6, base=0.5, cap=8.0, max_retry_after=60.0)


def test_waits_double_up_to_the_cap_within_their_jitter() -> None:
    rng = random.Random(7)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        waits = [POLICY.delay(retry, None, rng) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1  # jittered, not one fixed value


def test_retry_after_is_a_floor() -> None:
    rng = random.Random(1)
    waits = [POLICY.delay(2, 5.0, rng) for _ in range(50)]
    assert all(5.0 <= w <= 5.5 for w in waits)


def test_an_enormous_retry_after_is_shortened() -> None:
    assert POLICY.delay(1, 86400.0, random.Random(0)) <= 60.0 + 0.25


def test_retries_are_numbered_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        POLICY.delay(0, None, random.Random())


@given(retry=st.integers(1, 60), after=st.none() | st.floats(0, 1e6), seed=st.integers())
def test_every_wait_is_bounded(retry: int, after: float | None, seed: int) -> None:
    wait = POLICY.delay(retry, after, random.Random(seed))
    assert 0 <= wait <= POLICY.max_retry_after + POLICY.cap / 2
    if after is not None:
        assert wait >= min(after, POLICY.max_retry_after)


NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-3", None),
        ("1.5", None),
    ],
)
def test_retry_after_values(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


@given(st.text(max_size=40))
def test_retry_after_parsing_never_raises(header: str) -> None:
    value = parse_retry_after(header, NOW)
    assert value is None or value >= 0
