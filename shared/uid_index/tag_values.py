"""What the index stores for an extended query tag, from an instance's DICOM JSON.

Store and reindex both read the instance's metadata as its sidecar holds it, so an instance
indexed when it was stored and one reindexed later hold the same value. A value is kept in the
search form of its VR (``shared.dicom.search_forms``): strings as given, times and date-times as
keys whose string order is time order, numbers as numbers, person names as folded groups and
words. A value that does not fit its tag's VR is not indexed; its error, which names the tag and
the rule and never the value, is recorded instead. As in the Azure DICOM service, only the first
value of a multi-valued element is indexed.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.tag import Tag
from pydicom.values import convert_value

from shared.dicom.query_tags import QueryTag
from shared.dicom.search_forms import datetime_key, time_key
from shared.dicom.validation import is_valid_uid, value_issue
from shared.uid_index.person_names import person_names

JsonDict = dict[str, Any]

_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "SH", "TM", "UI"})
_INTEGER_RANGES = {
    "IS": (-(2**31), 2**31 - 1),
    "SL": (-(2**31), 2**31 - 1),
    "SS": (-(2**15), 2**15 - 1),
    "UL": (0, 2**32 - 1),
    "US": (0, 2**16 - 1),
}
_DECIMAL_VRS = frozenset({"DS", "FD", "FL"})
_PADDING = "\0 "


@dataclass(frozen=True)
class TagValue:
    """One tag's outcome for one instance: a search form and its element, or an error."""

    form: Any = None
    element: JsonDict | None = None
    error: str | None = None


def tag_value(tag: QueryTag, metadata: JsonDict) -> TagValue:
    """The value of ``tag`` in ``metadata``; empty when absent, or of another private creator."""
    if tag.private_creator is not None and _creator(tag, metadata) != tag.private_creator:
        return TagValue()
    element = metadata.get(tag.path)
    if not isinstance(element, dict):
        return TagValue()
    try:
        element = _as_registered(tag, element)
    except ValueError as exc:
        return TagValue(error=f"{tag.label}: {exc}")
    values = element.get("Value")
    if not isinstance(values, list) or not values or values[0] is None:
        return TagValue()
    issue = _issue(tag.vr, values[0])
    if issue is not None:
        return TagValue(error=f"{tag.label}: {issue}")
    return TagValue(_form(tag.vr, values[0]), element)


def _creator(tag: QueryTag, metadata: JsonDict) -> str | None:
    """The private creator of the block ``tag`` is in (PS3.5 7.8.1)."""
    number = tag.tag
    creator_tag = f"{(number >> 16):04X}00{(number >> 8) & 0xFF:02X}"
    element = metadata.get(creator_tag)
    values = element.get("Value") if isinstance(element, dict) else None
    if not isinstance(values, list) or not values or not isinstance(values[0], str):
        return None
    return values[0].strip(_PADDING)


def _as_registered(tag: QueryTag, element: JsonDict) -> JsonDict:
    """The element in the registered VR: a value of unknown VR (UN, as implicit VR files give
    private attributes) is decoded as that VR."""
    vr = element.get("vr")
    if vr == tag.vr:
        return element
    if vr != "UN":
        raise ValueError(f"stored with VR {vr}, registered with VR {tag.vr}")
    inline = element.get("InlineBinary")
    if not isinstance(inline, str):
        return {}
    try:
        raw = base64.b64decode(inline, validate=True)
        value = convert_value(
            tag.vr, RawDataElement(Tag(tag.tag), tag.vr, len(raw), raw, 0, True, True)
        )
        converted: JsonDict = DataElement(tag.tag, tag.vr, value).to_json_dict(None, 0)
    except Exception as exc:  # pydicom raises assorted errors for values it cannot convert
        raise ValueError(f"cannot be read as {tag.vr}") from exc
    return converted


def _issue(vr: str, value: Any) -> str | None:
    if vr == "PN":
        if not isinstance(value, dict):
            return "not a valid PN"
        groups = (str(value.get(g, "")) for g in ("Alphabetic", "Ideographic", "Phonetic"))
        return value_issue(vr, "=".join(groups).rstrip("="))
    if vr in _TEXT_VRS:
        if not isinstance(value, str):
            return f"not a valid {vr}"
        if vr == "UI":
            uid = value.rstrip(_PADDING)
            return None if is_valid_uid(uid) else "not a valid UID"
        return value_issue(vr, value)
    if vr in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[vr]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"not a valid {vr} (an integer from {low} to {high})"
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"not a valid {vr} (a finite number)"
    return None


def _text(value: str) -> str:
    return value.strip(_PADDING)


_FORMS: dict[str, Callable[[Any], Any]] = {
    "PN": lambda v: person_names([v]),
    "TM": lambda v: time_key(_text(v)),
    "DT": lambda v: datetime_key(_text(v)),
    **{vr: _text for vr in _TEXT_VRS - {"TM", "DT"}},
    **{vr: int for vr in _INTEGER_RANGES},
    **{vr: float for vr in _DECIMAL_VRS},
}


def _form(vr: str, value: Any) -> Any:
    return _FORMS[vr](value)


@dataclass(frozen=True)
class TagValues:
    """Every registered tag's outcome for one instance, as the index documents hold them."""

    forms: dict[str, dict[str, Any]]
    """By level name (``study``, ``series``, ``instance``), then by registration key."""
    elements: dict[str, dict[str, JsonDict]]
    """The DICOM JSON elements search returns, by level name, then by tag path."""
    errors: dict[str, str]
    """By registration key: why the value could not be indexed."""

    @classmethod
    def of(cls, tags: Iterable[QueryTag], metadata: JsonDict) -> TagValues:
        forms: dict[str, dict[str, Any]] = {}
        elements: dict[str, dict[str, JsonDict]] = {}
        errors: dict[str, str] = {}
        for tag in tags:
            outcome = tag_value(tag, metadata)
            level = tag.level.query_level.value
            if outcome.error is not None:
                errors[tag.key] = outcome.error
            elif outcome.element is not None:
                forms.setdefault(level, {})[tag.key] = outcome.form
                elements.setdefault(level, {})[tag.path] = outcome.element
        return cls(forms, elements, errors)

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(self.errors.values())


NO_TAG_VALUES = TagValues({}, {}, {})
