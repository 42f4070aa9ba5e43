"""A generated archive for search tests: studies with spread attributes and known answers.

Every study is described by a ``StudySpec`` before it is built, so a test computes the exact
expected matches in Python and compares them with what the service returns. All studies of one
archive share a PatientID prefix, which scopes queries to it in an index shared with other tests.
"""

from __future__ import annotations

import copy
import io
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_charset_files
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.data.builders import corpus_path, to_bytes

NAMES = (
    "Doe^John",
    "Müller^Jürgen",
    "García^José María",
    "O'Brien^Siobhán",
    "Ødegård^Åse",
    "Lefèvre^Hélène",
    "Smith^Anne^Marie",
    "DOE^JANE",
    "Yamada^Tarou=山田^太郎=やまだ^たろう",
    "Wang^XiaoDong=王^小東",
    "Zhang^Wei=张^伟",
    "Nguyễn^Văn An",
)
PHYSICIANS = ("House^Gregory", "Quinn^Michaela", "Zhivago^Yuri", "")
DESCRIPTIONS = ("CHEST CT", "BRAIN MRI", "ABDOMEN", "KNEE LEFT", "Knee Right", "")
MODALITIES = ("CT", "MR", "US", "CR", "OT")
MODELS = ("Aquilion", "MAGNETOM Skyra", "Voluson E10", "")
# Character-set samples of pydicom-data: names stored in ISO 2022 and GB18030, not only UTF-8.
CHARSET_FILES = ("chrH31.dcm", "chrH32.dcm", "chrX1.dcm", "chrX2.dcm", "chrI2.dcm", "chrGerm.dcm")
_TEMPLATES = ("CT_small.dcm", "MR_small.dcm")


@dataclass
class InstanceSpec:
    sop_uid: str
    sop_class_uid: str
    number: int


@dataclass
class SeriesSpec:
    uid: str
    modality: str
    number: int
    description: str
    model: str
    pps_date: str
    pps_time: str
    instances: list[InstanceSpec] = field(default_factory=list)


@dataclass
class StudySpec:
    uid: str
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    date: str
    time: str
    accession: str
    referring: str
    study_id: str
    description: str
    series: list[SeriesSpec] = field(default_factory=list)
    charset_file: str | None = None

    @property
    def modalities(self) -> list[str]:
        return sorted({s.modality for s in self.series})

    @property
    def instances(self) -> int:
        return sum(len(s.instances) for s in self.series)


@dataclass
class Archive:
    marker: str
    studies: list[StudySpec]

    @property
    def scope(self) -> str:
        """A PatientID wildcard matching exactly this archive's studies."""
        return f"{self.marker}*"


def _day(start: date, days: int) -> str:
    return (start + timedelta(days=days)).strftime("%Y%m%d")


def make_archive(count: int) -> Archive:
    """``count`` generated studies plus one per character-set sample."""
    marker = f"Q{uuid.uuid4().hex[:7].upper()}"
    studies = []
    for i in range(count + len(CHARSET_FILES)):
        charset_file = CHARSET_FILES[i - count] if i >= count else None
        study = StudySpec(
            uid=generate_uid(),
            patient_id=f"{marker}-{i:03d}",
            patient_name=NAMES[i % len(NAMES)],
            birth_date=_day(date(1940, 1, 1), i * 97),
            sex="MFO"[i % 3],
            date=_day(date(2000, 1, 1), i * 41),
            time=f"{(i * 7) % 24:02d}{(i * 13) % 60:02d}{(i * 17) % 60:02d}"
            + (".5" if i % 4 == 0 else ""),
            accession=f"{marker}{i:04d}",
            referring=PHYSICIANS[i % len(PHYSICIANS)],
            study_id=str(i % 50),
            description=DESCRIPTIONS[i % len(DESCRIPTIONS)],
            charset_file=charset_file,
        )
        for s in range(1 + i % 2):
            series = SeriesSpec(
                uid=generate_uid(),
                modality=MODALITIES[(i + 3 * s) % len(MODALITIES)],
                number=s + 1,
                description=f"Series {s + 1}",
                model=MODELS[(i + s) % len(MODELS)],
                pps_date=study.date,
                pps_time=f"{(i * 5 + s) % 24:02d}0000",
            )
            for k in range(1 + (i + s) % 3 % 2):
                template = _TEMPLATES[(i + k) % 2]
                series.instances.append(InstanceSpec(generate_uid(), _sop_class(template), k + 1))
            study.series.append(series)
        studies.append(study)
    return Archive(marker, studies)


_SOURCES: dict[str, Dataset] = {}


def _source(name: str) -> Dataset:
    if name not in _SOURCES:
        path = corpus_path(name) if name in _TEMPLATES else _charset_path(name)
        _SOURCES[name] = dcmread(path)
    return _SOURCES[name]


def _charset_path(name: str) -> Path:
    return next(Path(p) for p in get_charset_files(name))


def _sop_class(template: str) -> str:
    return str(_source(template).SOPClassUID)


def instance_files(study: StudySpec) -> list[bytes]:
    """The Part 10 files of one study, built from the corpus templates."""
    files = []
    for series in study.series:
        for instance in series.instances:
            template = next(t for t in _TEMPLATES if _sop_class(t) == instance.sop_class_uid)
            ds = copy.deepcopy(_source(study.charset_file or template))
            if study.charset_file is None:
                ds.SpecificCharacterSet = "ISO_IR 192"
                ds.PatientName = study.patient_name
            else:
                ds.SOPClassUID = instance.sop_class_uid
                study.patient_name = str(ds.PatientName)
            _set_attributes(ds, study, series, instance)
            files.append(to_bytes(ds) if ds.preamble else _part10(ds))
    return files


def _part10(ds: Dataset) -> bytes:
    ds.preamble = b"\0" * 128
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _set_attributes(
    ds: Dataset, study: StudySpec, series: SeriesSpec, instance: InstanceSpec
) -> None:
    ds.StudyInstanceUID = study.uid
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.birth_date
    ds.PatientSex = study.sex
    ds.StudyDate = study.date
    ds.StudyTime = study.time
    ds.AccessionNumber = study.accession
    ds.ReferringPhysicianName = study.referring
    ds.StudyID = study.study_id
    ds.StudyDescription = study.description
    ds.SeriesInstanceUID = series.uid
    ds.Modality = series.modality
    ds.SeriesNumber = series.number
    ds.SeriesDescription = series.description
    ds.ManufacturerModelName = series.model
    ds.PerformedProcedureStepStartDate = series.pps_date
    ds.PerformedProcedureStepStartTime = series.pps_time
    ds.SOPInstanceUID = instance.sop_uid
    ds.InstanceNumber = instance.number
    ds.file_meta.MediaStorageSOPInstanceUID = instance.sop_uid
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
