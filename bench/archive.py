"""The benchmark archive: instances made from real corpus files with fresh UIDs, grouped into the
STOW requests that store them.

Every server under test is sent the very same bytes, so their figures compare like with like. The
archive has one large study (one series of up to 500 CT instances, for the series-metadata and
whole-study figures) and many small ones (two series of five instances each, one patient per
study) for the search figures. It is stored in three runs, each measured apart: half of the
small studies one instance per request, the other half ten per request, then the large study ten
per request (into one series that grows to 500 instances). So each run stores the same kind of
requests whatever the archive's size, and its figures compare across sizes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cache

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from bench.common import BOUNDARY

LARGE_SERIES = 500
SMALL_SERIES = 5
SERIES_PER_SMALL_STUDY = 2
# Two small studies (one per request size) and a large study of twenty.
MINIMUM = 40
# Both are native (Explicit VR Little Endian) single-frame images.
LARGE_TEMPLATE = "CT_small.dcm"
SMALL_TEMPLATES = ("MR_small.dcm", "CT_small.dcm")


@dataclass(frozen=True)
class Instance:
    study: str
    series: str
    sop: str
    data: bytes


@dataclass
class Study:
    uid: str
    patient_id: str
    series: dict[str, list[Instance]] = field(default_factory=dict)

    def instances(self) -> list[Instance]:
        return [i for members in self.series.values() for i in members]


@dataclass(frozen=True)
class IngestRun:
    """STOW requests of ``per_request`` instances each (the last may hold fewer)."""

    per_request: int
    requests: list[list[Instance]]


@dataclass
class Archive:
    large: Study
    small: list[Study]
    runs: dict[str, IngestRun]
    """The ingest runs in the order they are stored, by name: ``1`` and ``10`` (small studies, one
    and ten instances per request) and ``large`` (the large study, ten per request)."""

    def instances(self) -> list[Instance]:
        return [i for run in self.runs.values() for request in run.requests for i in request]


@cache
def _template(name: str) -> Dataset:
    path = get_testdata_file(name)
    if path is None:
        raise RuntimeError(f"{name} is missing: install pydicom-data (requirements-dev.txt)")
    return dcmread(path)


def _instance(template: str, study: Study, series: str, number: int) -> Instance:
    """A copy of the template with the study's patient and fresh instance UIDs."""
    ds = _template(template).copy()
    sop = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = series
    ds.PatientID = study.patient_id
    ds.PatientName = f"Bench^{study.patient_id}"
    ds.StudyDescription = "Benchmark study"
    ds.InstanceNumber = number
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return Instance(study.uid, series, sop, buffer.getvalue())


def make_study(index: int, template: str, series_sizes: list[int]) -> Study:
    """A study of patient ``index`` with one series of copies of ``template`` per size."""
    study = Study(uid=generate_uid(), patient_id=f"BENCH{index:06d}")
    for size in series_sizes:
        series = generate_uid()
        study.series[series] = [_instance(template, study, series, n + 1) for n in range(size)]
    return study


def _chunks(instances: list[Instance], size: int) -> list[list[Instance]]:
    return [instances[start : start + size] for start in range(0, len(instances), size)]


def make_archive(total: int) -> Archive:
    """An archive of ``total`` instances (at least 40): the large study and the small ones."""
    if total < MINIMUM:
        raise ValueError(f"the archive needs at least {MINIMUM} instances")
    per_small = SMALL_SERIES * SERIES_PER_SMALL_STUDY
    large_size = min(LARGE_SERIES, total // 2)
    small_count = (total - large_size) // per_small
    large_size = total - small_count * per_small
    large = make_study(0, LARGE_TEMPLATE, [large_size])
    small = [
        make_study(n + 1, SMALL_TEMPLATES[n % 2], [SMALL_SERIES] * SERIES_PER_SMALL_STUDY)
        for n in range(small_count)
    ]
    single = [i for s in small[: small_count // 2] for i in s.instances()]
    tens = [i for s in small[small_count // 2 :] for i in s.instances()]
    runs = {
        "1": IngestRun(1, _chunks(single, 1)),
        "10": IngestRun(10, _chunks(tens, 10)),
        "large": IngestRun(10, _chunks(large.instances(), 10)),
    }
    return Archive(large, small, runs)


def multipart(instances: list[Instance]) -> bytes:
    """One STOW-RS request body carrying ``instances``."""
    parts = [
        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + i.data + b"\r\n"
        for i in instances
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
