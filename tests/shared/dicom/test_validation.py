"""Store-time validation: UID rule, VR rules, the v1/v2 split, and real files."""

import os
import re

import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from shared.dicom.validation import (
    FAILURE_STUDY_MISMATCH,
    FAILURE_VALIDATION,
    SEARCHABLE_KEYWORDS,
    is_valid_uid,
    validate_instance,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def data_path(name: str) -> str:
    """The path of a pydicom-data file; the lookup's declared type is wider than its use."""
    return str(get_testdata_file(name))


component = st.one_of(
    st.just("0"),
    st.from_regex(r"[1-9][0-9]{0,9}", fullmatch=True),
)
valid_uid = (
    st.lists(component, min_size=1, max_size=12).map(".".join).filter(lambda u: len(u) <= 64)
)


@given(valid_uid)
def test_well_formed_uids_are_valid(uid: str) -> None:
    assert is_valid_uid(uid)


@given(valid_uid, st.integers(0, 63))
def test_a_leading_zero_makes_a_uid_invalid(uid: str, position: int) -> None:
    parts = uid.split(".")
    index = position % len(parts)
    parts[index] = "0" + parts[index]
    assert not is_valid_uid(".".join(parts))


@given(valid_uid)
def test_empty_components_are_invalid(uid: str) -> None:
    assert not is_valid_uid(uid + ".")
    assert not is_valid_uid("." + uid)
    if "." in uid:
        assert not is_valid_uid(uid.replace(".", "..", 1))


@given(st.text(min_size=1, max_size=80))
def test_only_digits_and_dots(text: str) -> None:
    expected = (
        len(text) <= 64 and re.fullmatch(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*", text) is not None
    )
    assert is_valid_uid(text) == expected


def test_uid_length_limit() -> None:
    assert is_valid_uid("1" * 64)
    assert not is_valid_uid("1" * 65)
    assert not is_valid_uid("")


def base() -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID = "1.2.3"
    ds.SeriesInstanceUID = "1.2.3.4"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    return ds


def with_raw(keyword: str, vr: str, value: bytes, ds: Dataset | None = None) -> Dataset:
    ds = ds or base()
    tag = Tag(keyword)
    ds._dict[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)
    return ds


def issue(keyword: str, vr: str, value: bytes) -> str | None:
    result = validate_instance(with_raw(keyword, vr, value), 2)
    assert not result.failures
    return result.warnings[0] if result.warnings else None


def test_minimal_instance_is_valid() -> None:
    result = validate_instance(base(), 1)
    assert result.failures == result.warnings == ()
    assert result.invalid_tags == frozenset()
    assert result.failure_reason is None


@pytest.mark.parametrize("keyword", ["StudyInstanceUID", "SOPClassUID"])
@pytest.mark.parametrize("version", [1, 2])
def test_required_uids(keyword: str, version: int) -> None:
    ds = base()
    del ds[keyword]
    result = validate_instance(ds, version)
    assert result.failure_reason == FAILURE_VALIDATION
    assert any(keyword in message and "missing" in message for message in result.failures)
    for value, rule in [(b"1.02.3", "not a valid UID"), (b"1.2\\1.3", "more than one value")]:
        result = validate_instance(with_raw(keyword, "UI", value), version)
        assert result.failure_reason == FAILURE_VALIDATION
        assert any(rule in message for message in result.failures)


def test_uid_padding_is_fine() -> None:
    result = validate_instance(with_raw("SOPInstanceUID", "UI", b"1.2.3.4.5\0"), 1)
    assert result.failures == ()


def test_study_in_request_must_match() -> None:
    assert validate_instance(base(), 1, required_study_uid="1.2.3").failures == ()
    result = validate_instance(base(), 2, required_study_uid="1.2.4")
    assert result.failure_reason == FAILURE_STUDY_MISMATCH
    assert result.failures == (
        "(0020,000D) StudyInstanceUID: does not match the study of the request",
    )


@pytest.mark.parametrize(
    ("keyword", "vr", "value", "valid"),
    [
        ("StudyDate", "DA", b"20240229", True),
        ("StudyDate", "DA", b"20230229", False),
        ("StudyDate", "DA", b"2023.01.01", False),
        ("StudyDate", "DA", b"202301", False),
        ("StudyDate", "DA", b"20230101\0\0", True),
        ("StudyTime", "TM", b"23", True),
        ("StudyTime", "TM", b"2359", True),
        ("StudyTime", "TM", b"235960.123456", True),
        ("StudyTime", "TM", b"1200.5", False),
        ("StudyTime", "TM", b"240000", False),
        ("StudyTime", "TM", b"12:00:00", False),
        ("StudyTime", "TM", b"120000.1234567", False),
        ("PerformedProcedureStepStartTime", "TM", b"101010 ", True),
        ("PatientName", "PN", b"Doe^John^M^Dr^Jr", True),
        ("PatientName", "PN", b"Doe^John^M^Dr^Jr^X", False),
        ("PatientName", "PN", b"A" * 64 + b"=" + b"B" * 64, True),
        ("PatientName", "PN", b"A" * 65, False),
        ("PatientName", "PN", b"a=b=c=d", False),
        ("ReferringPhysicianName", "PN", b"Doe^J\0", True),
        ("StudyDescription", "LO", b"x" * 64, True),
        ("StudyDescription", "LO", b"x" * 65, False),
        ("PatientID", "LO", b"x" * 65, False),
        ("AccessionNumber", "SH", b"x" * 16, True),
        ("AccessionNumber", "SH", b"x" * 17, False),
        ("StudyID", "SH", b"x" * 17, False),
        ("Modality", "CS", b"CT", True),
        ("Modality", "CS", b"OT_2 ", True),
        ("Modality", "CS", b"ct", False),
        ("BodyPartExamined", "CS", b"A" * 17, False),
        ("PatientSex", "CS", b"M-", False),
        ("SeriesNumber", "IS", b" -12 ", True),
        ("SeriesNumber", "IS", b"2147483648", False),
        ("InstanceNumber", "IS", b"1.5", False),
        ("NumberOfFrames", "IS", b"1A", False),
        ("NumberOfFrames", "IS", b"1234567890123", False),
    ],
)
def test_vr_rules(keyword: str, vr: str, value: bytes, valid: bool) -> None:
    found = issue(keyword, vr, value)
    assert (found is None) == valid, found
    if found is not None:
        tag = Tag(keyword)
        assert found.startswith(f"({tag.group:04X},{tag.element:04X}) {keyword}: ")
        assert value.decode(errors="replace").strip("\0 ") not in found


def test_message_shape() -> None:
    assert issue("StudyDate", "DA", b"2023.01.01") == (
        "(0008,0020) StudyDate: not a valid DA (YYYYMMDD)"
    )


def test_us_range_and_multiplicity() -> None:
    ds = base()
    ds.add_new(0x00280010, "US", 70000)
    result = validate_instance(ds, 2)
    assert result.warnings == ("(0028,0010) Rows: not a valid US (0 to 65535)",)
    two = with_raw("Columns", "US", b"\x01\x00\x02\x00")
    assert validate_instance(two, 2).warnings == ("(0028,0011) Columns: has more than one value",)
    short = with_raw("Columns", "US", b"\x01\x00\x02")
    assert validate_instance(short, 2).warnings == ("(0028,0011) Columns: cannot be read as US",)


def test_first_issue_only_per_attribute() -> None:
    result = validate_instance(with_raw("StudyDate", "DA", b"2023.01.01\\20230101"), 2)
    assert result.warnings == ("(0008,0020) StudyDate: has more than one value",)


def test_empty_attributes_are_fine() -> None:
    ds = with_raw("StudyDate", "DA", b"")
    ds = with_raw("PatientName", "PN", b"", ds)
    assert validate_instance(ds, 1).failures == ()


def test_v1_fails_and_v2_warns() -> None:
    ds = with_raw("StudyDate", "DA", b"not a date")
    ds = with_raw("Modality", "CS", b"ct", ds)
    v1 = validate_instance(ds, 1)
    v2 = validate_instance(ds, 2)
    expected = (
        "(0008,0020) StudyDate: not a valid DA (YYYYMMDD)",
        "(0008,0060) Modality: not a valid CS (at most 16 of A-Z, 0-9, space, underscore)",
    )
    assert v1.failures == expected and v1.warnings == ()
    assert v1.failure_reason == FAILURE_VALIDATION
    assert v2.failures == () and v2.warnings == expected
    assert v2.failure_reason is None
    assert v1.invalid_tags == v2.invalid_tags == frozenset({0x00080020, 0x00080060})


def test_searchable_keywords_are_the_indexed_non_uid_attributes() -> None:
    assert len(set(SEARCHABLE_KEYWORDS)) == len(SEARCHABLE_KEYWORDS)
    assert {"PatientName", "StudyDate", "Modality", "InstanceNumber"} <= set(SEARCHABLE_KEYWORDS)
    assert not {"StudyInstanceUID", "SOPClassUID", "RequestAttributesSequence"} & set(
        SEARCHABLE_KEYWORDS
    )


VALID_FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "emri_small.dcm",
    "eCT_Supplemental.dcm",
    "color3d_jpeg_baseline.dcm",
    "liver.dcm",
    "rtdose.dcm",
    "rtplan.dcm",
    "rtstruct.dcm",
    "test-SR.dcm",
    "waveform_ecg.dcm",
    "JPEG-LL.dcm",
    "US1_J2KR.dcm",
    "image_dfl.dcm",
    "explicit_VR-UN.dcm",
    "reportsi_with_empty_number_tags.dcm",
]

# Corpus files that break a rule; each with the attributes it breaks.
INVALID_FILES = {
    "badVR.dcm": {"NumberOfFrames"},
    "bad_sequence.dcm": {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "StudyID"},
    "color-pl.dcm": {"StudyDate", "StudyTime"},
    "color-px.dcm": {"StudyDate", "StudyTime"},
    "ExplVR_BigEnd.dcm": {"StudyDate", "StudyTime"},
}


@pytest.mark.parametrize("name", VALID_FILES)
@pytest.mark.parametrize("version", [1, 2])
def test_valid_corpus_files_pass(name: str, version: int) -> None:
    ds = pydicom.dcmread(data_path(name), stop_before_pixels=True, force=True)
    result = validate_instance(ds, version)
    assert result.failures == () and result.warnings == ()


def test_corpus() -> None:
    """Every image file with its identifying UIDs passes unless it is a known invalid one."""
    seen = set()
    for path in (f for f in get_testdata_files("**/*") if os.path.isfile(f)):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue
        name = os.path.basename(path)
        result = validate_instance(ds, 1)
        if "SOPInstanceUID" not in ds or "StudyInstanceUID" not in ds:
            continue
        seen.add(name)
        broken = {message.split(" ")[1].rstrip(":") for message in result.failures}
        assert broken == INVALID_FILES.get(name, set()), name
    assert len(seen) > 150
    assert set(INVALID_FILES) <= seen
