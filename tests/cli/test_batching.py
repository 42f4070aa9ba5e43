"""Batches bounded by count and by size, rejected files passed through in order."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.batching import batched
from cli.sources import DicomFile, Found, Outcome, Rejected


def file(name: str, size: int) -> DicomFile:
    return DicomFile(name, size, None, lambda: io.BytesIO(b""))


def shape(items: list[object]) -> list[object]:
    return [
        [f.path for f in item] if isinstance(item, list) else item.path  # type: ignore[attr-defined]
        for item in items
    ]


def test_batches_by_count() -> None:
    files = [file(str(i), 1) for i in range(7)]
    assert shape(list(batched(files, max_count=3))) == [["0", "1", "2"], ["3", "4", "5"], ["6"]]


def test_batches_by_size_and_a_large_file_goes_alone() -> None:
    files = [file("a", 40), file("b", 50), file("c", 20), file("big", 500), file("d", 10)]
    assert shape(list(batched(files, max_count=10, max_bytes=100))) == [
        ["a", "b"],
        ["c"],
        ["big"],
        ["d"],
    ]


def test_rejected_files_pass_through_without_closing_a_batch() -> None:
    skipped = Rejected("notes.txt", Outcome.SKIPPED, "not DICOM")
    found: list[Found] = [file("a", 1), skipped, file("b", 1)]
    assert shape(list(batched(found, max_count=2))) == ["notes.txt", ["a", "b"]]


def test_nothing_found_makes_no_batch() -> None:
    assert list(batched([])) == []


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one"):
        list(batched([file("a", 1)], max_count=0))


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=300), max_size=40),
    max_count=st.integers(min_value=1, max_value=8),
    max_bytes=st.integers(min_value=1, max_value=400),
)
def test_batches_keep_order_and_bounds(sizes: list[int], max_count: int, max_bytes: int) -> None:
    files = [file(str(i), size) for i, size in enumerate(sizes)]
    batches = [b for b in batched(files, max_count, max_bytes) if isinstance(b, list)]
    assert [f for b in batches for f in b] == files
    for index, batch in enumerate(batches):
        assert 1 <= len(batch) <= max_count
        total = sum(f.size for f in batch)
        assert total <= max_bytes or len(batch) == 1
        if index + 1 < len(batches):  # closed only when the next file would not fit
            following = batches[index + 1][0]
            assert len(batch) == max_count or total + following.size > max_bytes
