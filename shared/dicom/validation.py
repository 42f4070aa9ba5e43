"""Store-time validation of an instance, with the v1 (strict) and v2 (lenient) split.

The index can only hold values it can search, so the attributes it indexes are checked
against their VR when an instance is stored. API v1 refuses an instance with any invalid
searchable attribute; v2 stores it, leaves the invalid attributes out of the index and
reports them as warnings. The identifying UIDs are required in both versions, because the
instance cannot be stored or addressed without them.

Messages name the tag, keyword and rule broken, never the value, because they are returned
to clients and logged.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from shared.dicom.attributes import (
    INSTANCE_ATTRIBUTES,
    REQUIRED_UIDS,
    SERIES_ATTRIBUTES,
    STUDY_ATTRIBUTES,
)
from shared.dicom.search_forms import datetime_key

FAILURE_VALIDATION = 43264
"""FailureReason: the instance failed validation."""

FAILURE_STUDY_MISMATCH = 43265
"""FailureReason: StudyInstanceUID differs from the study named in the store request."""

WARNING_VALIDATION = 1
"""WarningReason: stored, but the data set has validation warnings."""

REQUIRED_UID_KEYWORDS = REQUIRED_UIDS

SEARCHABLE_KEYWORDS = tuple(
    keyword
    for keyword in (*STUDY_ATTRIBUTES, *SERIES_ATTRIBUTES, *INSTANCE_ATTRIBUTES)
    if keyword not in REQUIRED_UIDS and dictionary_VR(keyword) != "SQ"
)
"""The indexed attributes whose values are checked against their VR."""

_UID_PATTERN = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_DA_PATTERN = re.compile(r"[0-9]{8}")
_TM_PATTERN = re.compile(
    r"(?:[01][0-9]|2[0-3])(?:[0-5][0-9](?:(?:[0-5][0-9]|60)(?:\.[0-9]{1,6})?)?)?"
)
_CS_PATTERN = re.compile(r"[A-Z0-9 _]{0,16}")
_AS_PATTERN = re.compile(r"[0-9]{3}[DWMY]")
_IS_PATTERN = re.compile(r"[+-]?[0-9]+")
_PADDING = "\0 "


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating one instance for the store response and the index.

    `failures` non-empty means the instance is refused with `failure_reason`; `warnings` are
    reported with WARNING_VALIDATION for an instance stored anyway; `invalid_tags` are the
    searchable attributes the index must leave out.
    """

    failures: tuple[str, ...]
    warnings: tuple[str, ...]
    invalid_tags: frozenset[int]
    failure_reason: int | None = None


def is_valid_uid(value: str) -> bool:
    """PS3.5 9.1: 1-64 characters, dot-separated non-empty numeric components, no leading 0."""
    return 0 < len(value) <= 64 and _UID_PATTERN.fullmatch(value) is not None


def validate_instance(
    ds: Dataset, api_version: int, required_study_uid: str | None = None
) -> ValidationResult:
    """Validate `ds` as the store transaction of `api_version` does.

    `required_study_uid` is the study named in the request path, if any; an instance of a
    different study is refused with FAILURE_STUDY_MISMATCH.
    """
    failures = [issue for keyword in REQUIRED_UID_KEYWORDS if (issue := _uid_issue(ds, keyword))]
    reason = FAILURE_VALIDATION if failures else None
    if (
        not failures
        and required_study_uid is not None
        and str(ds.StudyInstanceUID).rstrip(_PADDING) != required_study_uid
    ):
        failures.append(_message("StudyInstanceUID", "does not match the study of the request"))
        reason = FAILURE_STUDY_MISMATCH
    issues = {}
    for keyword in SEARCHABLE_KEYWORDS:
        issue = _searchable_issue(ds, keyword)
        if issue is not None:
            issues[_tag(keyword)] = issue
    warnings: tuple[str, ...] = ()
    if api_version >= 2:
        warnings = tuple(issues.values())
    elif issues:
        failures.extend(issues.values())
        reason = reason or FAILURE_VALIDATION
    return ValidationResult(tuple(failures), warnings, frozenset(issues), reason)


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return tag


def _element(ds: Dataset, keyword: str) -> DataElement | None:
    tag = _tag(keyword)
    element: DataElement | None = ds.get(tag)
    return element


def _message(keyword: str, rule: str) -> str:
    tag = _tag(keyword)
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {keyword}: {rule}"


def _uid_issue(ds: Dataset, keyword: str) -> str | None:
    try:
        element = _element(ds, keyword)
    except Exception:  # pydicom raises assorted errors for malformed values
        return _message(keyword, "cannot be read as UI")
    if element is None or element.VM == 0:
        return _message(keyword, "is missing or empty")
    if element.VM > 1:
        return _message(keyword, "has more than one value")
    if not is_valid_uid(str(element.value).rstrip(_PADDING)):
        return _message(keyword, "not a valid UID (1-64 digits and dots, no leading zeros)")
    return None


def _searchable_issue(ds: Dataset, keyword: str) -> str | None:
    """The first rule the attribute breaks, or None; an absent or empty attribute is fine."""
    vr = dictionary_VR(keyword)
    try:
        element = _element(ds, keyword)
    except Exception:  # pydicom raises assorted errors for malformed values
        return _message(keyword, f"cannot be read as {vr}")
    if element is None or element.VM == 0:
        return None
    if element.VM > 1:
        return _message(keyword, "has more than one value")
    rule = _RULES[vr](element.value)
    return None if rule is None else _message(keyword, rule)


def _text(value: Any) -> str:
    return str(value).rstrip(_PADDING)


def _check_da(value: Any) -> str | None:
    text = _text(value)
    if _DA_PATTERN.fullmatch(text) and _is_date(text):
        return None
    return "not a valid DA (YYYYMMDD)"


def _is_date(text: str) -> bool:
    try:
        date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    return True


def _check_tm(value: Any) -> str | None:
    if _TM_PATTERN.fullmatch(_text(value)):
        return None
    return "not a valid TM (HH[MM[SS[.F{1-6}]]])"


def _check_pn(value: Any) -> str | None:
    groups = _text(value).split("=")
    if len(groups) > 3:
        return "not a valid PN (at most 3 component groups)"
    for group in groups:
        if len(group) > 64:
            return "not a valid PN (at most 64 characters per component group)"
        if group.count("^") > 4:
            return "not a valid PN (at most 5 components per group)"
    return None


def _max_length(vr: str, limit: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if len(_text(value)) > limit:
            return f"not a valid {vr} (at most {limit} characters)"
        return None

    return check


def _check_cs(value: Any) -> str | None:
    if _CS_PATTERN.fullmatch(_text(value)):
        return None
    return "not a valid CS (at most 16 of A-Z, 0-9, space, underscore)"


def _check_is(value: Any) -> str | None:
    text = _text(value)
    number = text.lstrip(" ")
    if len(text) <= 12 and _IS_PATTERN.fullmatch(number) and -(2**31) <= int(number) < 2**31:
        return None
    return "not a valid IS (an integer of at most 12 characters, within 32 bits)"


def _check_us(value: Any) -> str | None:
    if isinstance(value, int) and 0 <= value <= 0xFFFF:
        return None
    return "not a valid US (0 to 65535)"


def _check_as(value: Any) -> str | None:
    if _AS_PATTERN.fullmatch(_text(value)):
        return None
    return "not a valid AS (3 digits and D, W, M or Y)"


def _check_ae(value: Any) -> str | None:
    text = _text(value).lstrip(" ")
    if len(text) <= 16 and text.isprintable() and "\\" not in text:
        return None
    return "not a valid AE (at most 16 printable characters, no backslash)"


def _check_dt(value: Any) -> str | None:
    if datetime_key(_text(value)) is not None:
        return None
    return "not a valid DT (YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&ZZXX])"


_RULES: dict[str, Callable[[Any], str | None]] = {
    "AE": _check_ae,
    "AS": _check_as,
    "DT": _check_dt,
    "DA": _check_da,
    "TM": _check_tm,
    "PN": _check_pn,
    "LO": _max_length("LO", 64),
    "SH": _max_length("SH", 16),
    "CS": _check_cs,
    "IS": _check_is,
    "US": _check_us,
}


def value_issue(vr: str, value: Any) -> str | None:
    """The rule of ``vr`` (one of the text VRs and US above) that ``value`` breaks, or None."""
    return _RULES[vr](value)
