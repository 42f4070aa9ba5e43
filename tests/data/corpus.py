"""The real-file corpus: every file of pydicom's test data (and pydicom-data's) that pydicom reads
and that names a study, a series and an instance.

Each file is stored as it is, with only its Study, Series and SOP Instance UIDs replaced by new
ones of the same length, so that every length field stays right and the file keeps whatever
quirks it has (many corpus files share UIDs, and a rewrite by pydicom would mend what the
service must cope with). A deflated data set hides its UIDs; it is re-identified by pydicom.
"""

from __future__ import annotations

import functools
import io
import re
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_files
from pydicom.dataset import Dataset

from tests.data.builders import with_fresh_uids

UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")

PROCESSING_FAILURE = 272

# Files pydicom reads that the service refuses, with the failure reason it gives and why.
REFUSED = {
    # Pixel data shorter than Rows x Columns x Samples x Bits Allocated.
    "MR_truncated.dcm": PROCESSING_FAILURE,
    # The data set ends inside a sequence: the file cannot be parsed to its end.
    "rtplan_truncated.dcm": PROCESSING_FAILURE,
}

# Files stored with a warning (202): the attribute the service found wrong.
_BAD_DATE_TIME = [
    "(0008,0020) StudyDate: not a valid DA (YYYYMMDD)",
    "(0008,0030) StudyTime: not a valid TM (HH[MM[SS[.F{1-6}]]])",
]
WARNED = {
    "ExplVR_BigEnd.dcm": _BAD_DATE_TIME,
    "color-pl.dcm": _BAD_DATE_TIME,
    "color-px.dcm": _BAD_DATE_TIME,
    "badVR.dcm": [
        "(0028,0008) NumberOfFrames: not a valid IS "
        "(an integer of at most 12 characters, within 32 bits)"
    ],
    "bad_sequence.dcm": ["(0020,0010) StudyID: not a valid SH (at most 16 characters)"],
}

# Elements pydicom cannot give in DICOM JSON, and what the service gives instead. Number of
# Frames "1A" is kept as text; pydicom's JSON of the whole data set also fails inside the
# Referenced RT Plan Sequence, which is rtdose.dcm's, where pydicom converts it.
_RT_PLAN = {
    "00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.481.5"]},
    "00081155": {"vr": "UI", "Value": ["1.2.123.456.78.9.0123.4567.89012345678901"]},
    "300C0020": {
        "vr": "SQ",
        "Value": [
            {
                "300C0004": {"vr": "SQ", "Value": [{"300C0006": {"vr": "IS", "Value": [1]}}]},
                "300C0022": {"vr": "IS", "Value": [1]},
            }
        ],
    },
}
BEYOND_PYDICOM_JSON = {
    "badVR.dcm": {
        "00280008": {"vr": "IS", "Value": ["1A"]},
        "300C0002": {"vr": "SQ", "Value": [_RT_PLAN]},
    },
}

# Files with pixel data whose pixels pydicom itself cannot decode, and what stops it; their
# frames and files as stored are still checked, the decoded forms are not.
UNDECODABLE = {
    # Both pylibjpeg and pillow fail to read the header of its JPEG 2000 codestream.
    "JPEG2000-embedded-sequence-delimiter.dcm": "the JPEG 2000 header cannot be read",
    # A misplaced marker in the JPEG Extended stream (libjpeg error -1038).
    "JPEG-lossy.dcm": "the JPEG stream has a misplaced marker",
    # Number of Frames is "1A", not an integer string.
    "badVR.dcm": "Number of Frames is not a number",
}


@dataclass(frozen=True)
class CorpusFile:
    name: str
    path: Path

    def read(self) -> Dataset:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dcmread(self.path)


def _has_uids(path: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(path)
    except Exception:  # pydicom raises assorted errors for files it cannot read
        return False
    return all(keyword in ds for keyword in UID_KEYWORDS)


@functools.cache
def corpus() -> tuple[CorpusFile, ...]:
    """Every test data file pydicom reads that has the three UIDs, by file name (unique)."""
    files = [CorpusFile(Path(p).name, Path(p)) for p in get_testdata_files() if _has_uids(p)]
    names = [f.name for f in files]
    assert len(set(names)) == len(names), "corpus file names are not unique"
    return tuple(sorted(files, key=lambda f: f.name))


def same_length_uid(uid: str) -> str:
    """A new UID (under 2.25, the UUID-derived root) as long as ``uid``."""
    digits = len(uid) - len("2.25.")
    assert digits >= 1, uid
    return (
        "2.25."
        + str(secrets.choice(range(1, 10)))
        + "".join(secrets.choice("0123456789") for _ in range(digits - 1))
    )


def reidentified(source: CorpusFile) -> tuple[bytes, Dataset]:
    """The file with new Study, Series and SOP Instance UIDs, everything else byte for byte."""
    data = source.path.read_bytes()
    ds = source.read()
    old = {str(ds[keyword].value) for keyword in UID_KEYWORDS}
    if not all(uid.encode() in data for uid in old):
        made, _ = with_fresh_uids(data)
        return made, dcmread(io.BytesIO(made))
    new = {uid: same_length_uid(uid) for uid in old}
    # Only the end is checked: before a value come its length bytes, which may be digits.
    whole = re.compile(
        b"("
        + b"|".join(re.escape(u.encode()) for u in sorted(old, key=len, reverse=True))
        + rb")(?![0-9.])"
    )
    changed = whole.sub(lambda m: new[m[1].decode()].encode(), data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return changed, dcmread(io.BytesIO(changed))
