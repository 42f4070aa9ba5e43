"""DICOM instances built in code for the tests.

The tutorial's three instances are rebuilt from their published attributes (same UIDs, same
attributes) with their shapes drawn in code. Corpus files from pydicom-data get fresh UIDs when a
test needs them distinct, since many of them share UIDs.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

TUTORIAL_STUDY = "1.2.826.0.1.3680043.8.498.13230779778012324449356534479549187420"
SERIES_1 = "1.2.826.0.1.3680043.8.498.45787841905473114233124723359129632652"
SERIES_2 = "1.2.826.0.1.3680043.8.498.77033797676425927098669402985243398207"


@dataclass(frozen=True)
class TutorialInstance:
    name: str
    series_uid: str
    sop_uid: str
    series_number: int
    instance_number: int
    comment: str
    colour: tuple[int, int, int]


TUTORIAL = {
    "red-triangle": TutorialInstance(
        "red-triangle",
        SERIES_1,
        "1.2.826.0.1.3680043.8.498.47359123102728459884412887463296905395",
        1,
        1,
        "Fake DICOM - Red Triangle",
        (255, 0, 0),
    ),
    "green-square": TutorialInstance(
        "green-square",
        SERIES_1,
        "1.2.826.0.1.3680043.8.498.12714725698140337137334606354172323212",
        1,
        2,
        "Fake DICOM - Green Square",
        (0, 255, 0),
    ),
    "blue-circle": TutorialInstance(
        "blue-circle",
        SERIES_2,
        "1.2.826.0.1.3680043.8.498.13273713909719068980354078852867170114",
        2,
        1,
        "Fake DICOM - Blue Circle",
        (0, 0, 255),
    ),
}

ROWS, COLUMNS = 979, 985


def _pixels(shape: str, colour: tuple[int, int, int], rows: int, columns: int) -> bytes:
    y, x = np.mgrid[0:rows, 0:columns]
    cy, cx = rows / 2, columns / 2
    if shape == "red-triangle":
        mask = (y > rows * 0.2) & (np.abs(x - cx) < (y - rows * 0.2) * 0.6)
    elif shape == "blue-circle":
        mask = (y - cy) ** 2 + (x - cx) ** 2 < (rows * 0.35) ** 2
    else:
        mask = (np.abs(y - cy) < rows * 0.3) & (np.abs(x - cx) < rows * 0.3)
    image = np.zeros((rows, columns, 3), dtype=np.uint8)
    image[mask] = colour
    return image.tobytes()


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def tutorial_dataset(name: str, *, rows: int = ROWS, columns: int = COLUMNS) -> Dataset:
    """One of the tutorial's instances; `rows` and `columns` shrink its image when a test wants
    the same shapes at a smaller size."""
    spec = TUTORIAL[name]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = spec.sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128  # so that clients writing with pydicom produce a Part 10 file
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = spec.sop_uid
    ds.StudyDate = "20200922"
    ds.StudyTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = "OT"
    ds.ConversionType = "SYN"
    ds.ReferringPhysicianName = "Doctor Doc"
    ds.PatientName = "Anony Mous"
    ds.PatientID = "ID1"
    ds.PatientBirthDate = ""
    ds.PatientSex = "F"
    ds.PatientAge = "024Y"
    ds.StudyInstanceUID = TUTORIAL_STUDY
    ds.SeriesInstanceUID = spec.series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = spec.series_number
    ds.InstanceNumber = spec.instance_number
    ds.ImageComments = spec.comment
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows = rows
    ds.Columns = columns
    ds.PixelSpacing = [1, 1]
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = _pixels(name, spec.colour, rows, columns)
    return ds


def fresh_tutorial_study(size: int) -> list[Dataset]:
    """The tutorial's study shape (three instances, two series) with new UIDs, `size` pixels
    square, for tests that must not share the tutorial's fixed UIDs with other tests."""
    study_uid = generate_uid()
    series_uids = {spec.series_uid: generate_uid() for spec in TUTORIAL.values()}
    datasets = []
    for name, spec in TUTORIAL.items():
        ds = tutorial_dataset(name, rows=size, columns=size)
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uids[spec.series_uid]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        datasets.append(ds)
    return datasets


def tutorial_file(name: str) -> bytes:
    return to_bytes(tutorial_dataset(name))


def corpus_path(name: str) -> Path:
    return Path(str(get_testdata_file(name)))


def with_fresh_uids(
    source: str | bytes,
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    patient_id: str | None = None,
) -> tuple[bytes, Dataset]:
    """A corpus file (by name) or file bytes, re-identified; returns the bytes and the dataset.

    ``patient_id`` replaces the Patient ID too, for tests that search by it.
    """
    fp = corpus_path(source) if isinstance(source, str) else io.BytesIO(source)
    ds = dcmread(fp)
    if patient_id is not None:
        ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue(), ds


def with_vr(data: bytes, tag: int, vr: bytes) -> bytes:
    """An explicit VR little endian file with the VR of its first element `tag` replaced, e.g.
    by one PS3.5 does not define, keeping the element's 2-byte length."""
    key = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    at = data.index(key, 132)
    return data[: at + 4] + vr + data[at + 6 :]


def multipart(
    parts: list[bytes],
    boundary: str = "DICOMwebBoundary",
    *,
    part_headers: list[str] | None = None,
    preamble: bytes = b"",
    close: bytes = b"\r\n",
) -> bytes:
    """A multipart/related body with the framing under test's control."""
    headers = part_headers or ["Content-Type: application/dicom"] * len(parts)
    out = bytearray(preamble)
    for header, body in zip(headers, parts, strict=True):
        out += f"--{boundary}\r\n".encode()
        if header:
            out += header.encode() + b"\r\n"
        out += b"\r\n" + body + b"\r\n"
    out += f"--{boundary}--".encode() + close
    return bytes(out)
