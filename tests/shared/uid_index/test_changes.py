"""The change feed's pure rules: numbering a round, the State of an entry, timestamps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.uid_index.changes import History, State, Unnumbered, number_round, state_of
from shared.uid_index.lifecycle import Lifecycle


@st.composite
def rounds(draw: st.DrawFn) -> list[Unnumbered]:
    """Unnumbered entries of a few instances: each instance's ``n`` consecutive from some point,
    with timestamps that may disagree with ``n`` (hosts whose clocks differ)."""
    entries = []
    for instance in range(draw(st.integers(0, 6))):
        first = draw(st.integers(1, 5))
        for n in range(first, first + draw(st.integers(1, 4))):
            stamp = draw(st.floats(0, 100, allow_nan=False))
            entries.append(Unnumbered("s", f"change-{instance}-{n}", f"i{instance}", n, stamp))
    return draw(st.permutations(entries))


@given(rounds(), st.integers(0, 10**6))
def test_a_round_numbers_every_entry_once_after_the_watermark(
    entries: list[Unnumbered], watermark: int
) -> None:
    numbered = number_round(entries, watermark)
    assert sorted(e.entry_id for e, _ in numbered) == sorted(e.entry_id for e in entries)
    assert [seq for _, seq in numbered] == list(range(watermark + 1, watermark + 1 + len(entries)))


@given(rounds())
def test_an_instance_s_entries_are_numbered_in_commit_order(entries: list[Unnumbered]) -> None:
    numbered = number_round(entries, 0)
    for instance in {e.instance_key for e in entries}:
        own = [(e.n, seq) for e, seq in numbered if e.instance_key == instance]
        assert sorted(own) == sorted(own, key=lambda pair: pair[1])


@given(st.lists(st.floats(0, 100, allow_nan=False), unique=True))
def test_entries_of_different_instances_go_oldest_first(stamps: list[float]) -> None:
    entries = [Unnumbered("s", f"change-{i}-1", f"i{i}", 1, t) for i, t in enumerate(stamps)]
    numbered = number_round(entries, 0)
    assert [e.timestamp for e, _ in numbered] == sorted(stamps)


@given(st.integers(0, 1000), st.floats(0, 2e9), st.floats(0, 2e9))
def test_an_instance_s_timestamps_increase_whatever_the_clock(
    count: int, last: float, now: float
) -> None:
    following = History(count, last).next(now)
    assert following.count == count + 1
    assert following.at > last and following.at >= round(now, 6)
    assert following.at == round(following.at, 6)


def test_the_state_follows_the_instance() -> None:
    assert state_of(3, Lifecycle.CREATED, 3) is State.CURRENT
    assert state_of(2, Lifecycle.CREATED, 3) is State.REPLACED
    for status in (Lifecycle.DELETING, Lifecycle.PURGED, Lifecycle.PENDING, None):
        assert state_of(3, status, 3) is State.DELETED
