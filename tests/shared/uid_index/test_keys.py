import time

from hypothesis import given
from hypothesis import strategies as st

from shared.uid_index.keys import (
    InstanceRef,
    new_version,
    parse_blob_name,
    version_after,
    version_time,
)

uids = st.from_regex(r"[1-9][0-9]{0,5}(\.[1-9][0-9]{0,5}){1,8}", fullmatch=True)


@given(uids, uids, uids)
def test_blob_names_are_deterministic_and_carry_no_uid(study: str, series: str, sop: str) -> None:
    ref = InstanceRef.of("Microsoft.Default", study, series, sop)
    again = InstanceRef.of("Microsoft.Default", study, series, sop)
    version = new_version()
    name = ref.file_blob(version)
    assert name == again.file_blob(version)
    for uid in (study, series, sop):
        assert uid not in name.split("/", 1)[1]
        assert uid not in ref.doc_id and uid not in ref.series.doc_id
        assert uid not in ref.study.doc_id
    parsed = parse_blob_name(name)
    assert parsed is not None
    assert parsed.instance_prefix == ref.blob_prefix
    assert (parsed.version, parsed.kind) == (version, "dcm")
    assert parse_blob_name(ref.sidecar_blob(version)).kind == "json"  # type: ignore[union-attr]


def test_levels_and_partitions_do_not_collide() -> None:
    a = InstanceRef.of("Microsoft.Default", "1.2", "1.2", "1.2")
    b = InstanceRef.of("other", "1.2", "1.2", "1.2")
    assert len({a.key, a.series.key, a.study.key}) == 3
    assert a.key != b.key and a.study.key != b.study.key
    assert a.blob_prefix.startswith(a.series.blob_prefix)
    assert a.series.blob_prefix.startswith(a.study.blob_prefix)


def test_versions_sort_by_creation_time() -> None:
    versions = [new_version() for _ in range(50)]
    stamps = [v[:16] for v in versions]
    assert stamps == sorted(stamps)
    assert all(len(v) == 24 for v in versions)
    assert len(set(versions)) == 50


def test_a_version_says_when_its_copy_was_written() -> None:
    before = time.time()
    written = version_time(new_version()).timestamp()
    assert before - 1e-3 <= written <= time.time()


def test_foreign_blob_names_are_ignored() -> None:
    assert parse_blob_name("readme.txt") is None
    assert parse_blob_name("p/abc/def/ghi/v.dcm") is None


def test_a_thumbnail_and_an_htj2k_copy_are_blobs_of_their_stored_copy() -> None:
    ref = InstanceRef.of("Microsoft.Default", "1.2", "1.2.3", "1.2.3.4")
    version = new_version()
    name, copy = ref.thumbnail_blob(version), ref.htj2k_blob(version)
    for blob, kind in ((name, "thumbnail.jpg"), (copy, "htj2k")):
        parsed = parse_blob_name(blob)
        assert parsed is not None
        assert (parsed.instance_prefix, parsed.version) == (ref.blob_prefix, version)
        assert parsed.kind == kind
        assert blob.endswith(f"/{version}.{kind}")
    assert set(ref.version_blobs(version)) == {
        ref.file_blob(version),
        ref.sidecar_blob(version),
        name,
        copy,
    }
    assert parse_blob_name(f"{ref.blob_prefix}{version}.thumbnail.png") is None


@given(st.integers(0, 2**63), st.binary(min_size=4, max_size=4))
def test_a_version_after_another_sorts_after_it(micros: int, noise: bytes) -> None:
    previous = f"{micros:016x}{noise.hex()}"
    later = version_after(previous)
    assert later > previous and len(later) == len(previous)
    assert version_after("") > ""
