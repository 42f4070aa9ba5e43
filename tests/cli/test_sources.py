"""Finding DICOM files by content in folders and zip files (no server involved)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from cli.sources import DicomFile, Outcome, Rejected, Scanner, is_dicom, sop_instance_uid
from tests.cli.corpus_tree import build_tree, instance


def scan(*paths: Path) -> tuple[list[DicomFile], list[Rejected]]:
    scanner = Scanner(list(paths))
    try:
        found = list(scanner.scan())
        files = [f for f in found if isinstance(f, DicomFile)]
        for file in files:  # every opener still works after the scan
            with file.open() as stream:
                assert len(stream.read()) == file.size
        return files, [f for f in found if isinstance(f, Rejected)]
    finally:
        scanner.close()


def test_folders_and_zips_are_walked_and_dicom_is_known_by_content(tmp_path: Path) -> None:
    tree = build_tree(tmp_path)
    files, rejected = scan(tmp_path)
    assert {f.path: f.sop_instance_uid for f in files} == tree.instances
    assert sorted(r.path for r in rejected) == sorted(tree.not_dicom)
    assert {(r.outcome, r.reason) for r in rejected} == {(Outcome.SKIPPED, "not DICOM")}


def test_the_walk_order_is_stable_and_sorted(tmp_path: Path) -> None:
    build_tree(tmp_path, files=6, zipped=0)
    files, _ = scan(tmp_path)
    paths = [f.path for f in files]
    assert paths == sorted(paths)
    assert paths == [f.path for f in scan(tmp_path)[0]]


def test_files_and_zips_may_be_named_directly(tmp_path: Path) -> None:
    tree = build_tree(tmp_path, files=1, zipped=2)
    single = next(p for p in tree.instances if "!" not in p)
    files, rejected = scan(Path(single), tmp_path / "more.zip")
    assert [f.path for f in files] == [single, *sorted(p for p in tree.instances if "!" in p)]
    assert [r.path for r in rejected] == [f"{tmp_path / 'more.zip'}!disk/README.txt"]


def test_a_stored_zip_is_read_too(tmp_path: Path) -> None:
    data, uid = instance("MR_small.dcm")
    with zipfile.ZipFile(tmp_path / "plain.zip", "w", zipfile.ZIP_STORED) as out:
        out.writestr("a", data)
    files, _ = scan(tmp_path)
    assert [(f.sop_instance_uid, f.size) for f in files] == [(uid, len(data))]


def damaged_zip(path: Path, good: bytes) -> None:
    """A zip whose second member's local header is overwritten."""
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("good", good)
        out.writestr("bad", good)
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo("bad").header_offset
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 4] = b"\0\0\0\0"
    path.write_bytes(bytes(raw))


def test_unreadable_members_fail_and_the_walk_goes_on(tmp_path: Path) -> None:
    data, uid = instance("CT_small.dcm")
    damaged_zip(tmp_path / "damaged.zip", data)
    files, rejected = scan(tmp_path)
    assert [f.sop_instance_uid for f in files] == [uid]
    assert [(r.path, r.outcome) for r in rejected] == [
        (f"{tmp_path / 'damaged.zip'}!bad", Outcome.FAILED)
    ]
    assert rejected[0].reason.startswith("cannot read: ")


def test_folder_links_are_not_followed(tmp_path: Path) -> None:
    data, _ = instance("CT_small.dcm")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one").write_bytes(data)
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    files, _ = scan(tmp_path)
    assert [f.path for f in files] == [str(tmp_path / "a" / "one")]


def test_a_dicom_file_whose_header_does_not_parse_is_still_sent(tmp_path: Path) -> None:
    data, _ = instance("CT_small.dcm")
    (tmp_path / "cut").write_bytes(data[:140])
    files, _ = scan(tmp_path)
    assert [(f.size, f.sop_instance_uid) for f in files] == [(140, None)]


@given(st.binary(max_size=300))
def test_only_the_magic_at_offset_128_makes_dicom(head: bytes) -> None:
    assert is_dicom(head) == (head[128:132] == b"DICM")
    assert is_dicom(b"\0" * 128 + b"DICM" + head)


@given(st.binary(max_size=2000))
def test_the_uid_reader_never_raises(data: bytes) -> None:
    uid = sop_instance_uid(io.BytesIO(b"\0" * 128 + b"DICM" + data))
    assert uid is None or isinstance(uid, str)
