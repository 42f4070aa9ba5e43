"""The bounded cache of write-once blobs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.storage.blob_cache import BlobCache


def test_keeps_what_fits_and_drops_the_least_recently_used() -> None:
    cache = BlobCache(max_bytes=10)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    assert cache.get("a") == b"aaaa"  # now "b" is the least recently used
    cache.put("c", b"cccc")
    assert cache.get("b") is None
    assert cache.get("a") == b"aaaa"
    assert cache.get("c") == b"cccc"
    assert cache.size == 8


def test_a_blob_larger_than_the_bound_is_not_kept() -> None:
    cache = BlobCache(max_bytes=3)
    cache.put("a", b"aaaa")
    assert cache.get("a") is None
    assert cache.size == 0


def test_putting_a_name_again_counts_it_once() -> None:
    cache = BlobCache(max_bytes=10)
    cache.put("a", b"aaaa")
    cache.put("a", b"aaaaaa")
    assert cache.get("a") == b"aaaaaa"
    assert cache.size == 6


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.binary(max_size=12))), st.integers(0, 40))
def test_never_holds_more_than_its_bound(puts: list[tuple[str, bytes]], bound: int) -> None:
    cache = BlobCache(max_bytes=bound)
    for name, data in puts:
        cache.put(name, data)
        assert cache.size <= bound
        assert len(data) > bound or cache.get(name) == data
