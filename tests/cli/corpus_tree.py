"""Temporary trees of files for the importer's tests: corpus instances with fresh UIDs in
folders and zip files, beside files that are not DICOM."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.data.builders import with_fresh_uids

TEMPLATES = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG-LL.dcm", "MR_small_RLE.dcm")


@dataclass
class Tree:
    root: Path
    # SOP Instance UID of each DICOM file written, by the path the importer reports.
    instances: dict[str, str] = field(default_factory=dict)
    not_dicom: list[str] = field(default_factory=list)


def instance(template: str, study_uid: str | None = None) -> tuple[bytes, str]:
    data, ds = with_fresh_uids(template, study_uid=study_uid)
    return data, str(ds.SOPInstanceUID)


def build_tree(
    root: Path, *, files: int = 5, zipped: int = 4, study_uid: str | None = None
) -> Tree:
    """``files`` instances in nested folders, ``zipped`` more in a zip (with a subfolder and a
    text member), a text file and a file that only starts like DICOM."""
    tree = Tree(root)
    for i in range(files):
        folder = root / "scans" / f"series{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        data, uid = instance(TEMPLATES[i % len(TEMPLATES)], study_uid)
        path = folder / f"IM{i:04d}"  # no extension, as modalities write them
        path.write_bytes(data)
        tree.instances[str(path)] = uid
    archive = root / "more.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for i in range(zipped):
            data, uid = instance(TEMPLATES[i % len(TEMPLATES)], study_uid)
            name = f"disk/{i:04d}.dcm"
            out.writestr(name, data)
            tree.instances[f"{archive}!{name}"] = uid
        out.writestr("disk/README.txt", "not an image")
        tree.not_dicom.append(f"{archive}!disk/README.txt")
    notes = root / "notes.txt"
    notes.write_text("a text file among the images\n")
    tree.not_dicom.append(str(notes))
    short = root / "scans" / "DICM"
    short.write_bytes(b"DICM")  # the magic without the preamble is not a Part 10 file
    tree.not_dicom.append(str(short))
    return tree
