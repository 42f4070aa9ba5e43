"""The attributes each query level keeps in the index, by DICOM keyword.

One table serves validation (what must be valid to be indexed), the index documents (what each
level stores and can be searched on) and search (what is returned by default, PS3.18 Table
6.7.1-2). Parent-level attributes are repeated on child documents so that a search such as
``/instances?PatientName=...`` is one query.
"""

from __future__ import annotations

from functools import lru_cache
from string import hexdigits

from pydicom.datadict import tag_for_keyword

STUDY_ATTRIBUTES: tuple[str, ...] = (
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
    "TimezoneOffsetFromUTC",
)

SERIES_ATTRIBUTES: tuple[str, ...] = (
    "Modality",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "ManufacturerModelName",
    "BodyPartExamined",
    "RequestAttributesSequence",
)

INSTANCE_ATTRIBUTES: tuple[str, ...] = (
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
)

COMPUTED_ATTRIBUTES: tuple[str, ...] = (
    "RetrieveURL",
    "InstanceAvailability",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
    "NumberOfSeriesRelatedInstances",
)
"""Attributes search derives (URLs, availability, aggregates) rather than reads from the file."""

# The matching keys of each level (PS3.18 Table 10.6.1-5 and the Azure DICOM service's list).
# Every one but ModalitiesInStudy is stored in the index tables above.
STUDY_MATCHING_KEYS: tuple[str, ...] = (
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
)

SERIES_MATCHING_KEYS: tuple[str, ...] = (
    "Modality",
    "SeriesInstanceUID",
    "SeriesNumber",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "ManufacturerModelName",
)

INSTANCE_MATCHING_KEYS: tuple[str, ...] = (
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
)

# The attributes search returns without includefield (PS3.18 Table 6.7.1-2).
STUDY_DEFAULT_RETURN: tuple[str, ...] = (
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "InstanceAvailability",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "TimezoneOffsetFromUTC",
    "RetrieveURL",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)

SERIES_DEFAULT_RETURN: tuple[str, ...] = (
    "Modality",
    "TimezoneOffsetFromUTC",
    "SeriesDescription",
    "RetrieveURL",
    "SeriesInstanceUID",
    "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "RequestAttributesSequence",
)

INSTANCE_DEFAULT_RETURN: tuple[str, ...] = (
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceAvailability",
    "TimezoneOffsetFromUTC",
    "RetrieveURL",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
)

REQUIRED_UIDS: tuple[str, ...] = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "SOPClassUID",
)


@lru_cache(maxsize=4096)
def tag_hex(keyword: str) -> str:
    """The DICOM JSON key (8 uppercase hex digits) of a dictionary keyword, or of a tag given as
    8 hex digits already (as private tags, which have no keyword, are named).

    Kept for the keywords met: every search result and every index document asks again for the
    same few dozen, and pydicom's look-up was a seventh of a search's CPU.
    """
    if len(keyword) == 8 and all(c in hexdigits for c in keyword):
        return keyword.upper()
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return f"{tag:08X}"
