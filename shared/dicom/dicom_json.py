"""The DICOM JSON model (PS3.18 Annex F) of a stored instance, with bulk data by reference.

The metadata endpoints serve this JSON without touching the DICOM file again, so it is made
once at ingest and has to survive whatever real-world files contain: values pydicom cannot
convert are written in a faithful fallback form instead of failing the whole instance.

Most of an instance's elements are converted here straight from their raw bytes, not by
pydicom: its per-element path (``Dataset.__getitem__``, ``convert_raw_data_element``, a
``DataElement``, ``to_json_dict``, character set look-ups) was most of the CPU the store spends
per instance. Only the simple cases are done by hand, each as pydicom's own value conversion
(``pydicom.values``) does it under its default configuration: text decoded without escape
sequences, binary numbers, attribute tags, well-formed numeric strings, short binary values.
Anything else (sequences, person names with component groups, character sets switched by
escape sequences, malformed numbers, values pydicom would mend or refuse, deferred values) goes
through pydicom, which stays the oracle: tests compare this module with the pure pydicom path on
every file of the real-file corpus and on generated data sets.
"""

import base64
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

from pydicom import config, hooks
from pydicom.charset import default_encoding
from pydicom.config import IGNORE, RAISE
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import _LUT_DESCRIPTOR_TAGS
from pydicom.valuerep import IS, DSfloat

from shared.dicom.instance_parser import PIXEL_DATA_TAGS

BULK_DATA_THRESHOLD = 1024
"""Binary values longer than this many bytes are given as a BulkDataURI, not InlineBinary.

1 KiB keeps small binary attributes (private flags, short LUT descriptors, icons of a few
pixels) readable in the metadata while keeping the JSON of large instances small.
"""

BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})

# VRs whose declared length alone decides bulk data; UN is left out because pydicom may
# replace it with the attribute's real VR when the value is converted.
_SIZED_BY_HEADER_VRS = BINARY_VRS - {"UN"}
_UNDEFINED_LENGTH = 0xFFFFFFFF

BulkDataUri = Callable[[str], str]
"""Maps an element path (e.g. "7FE00010" or "00540016/0/00181078") to its BulkDataURI."""


class PixelDataElement(Protocol):
    """The pixel data element left out of a head-only data set."""

    @property
    def tag(self) -> int: ...

    @property
    def vr(self) -> str: ...


def to_dicom_json(
    ds: Dataset,
    bulk_data_uri: BulkDataUri,
    pixel_data: PixelDataElement | None = None,
) -> dict[str, Any]:
    """Return the DICOM JSON object of `ds`, without file meta or group length elements.

    `pixel_data` describes a pixel data element that `ds` was parsed without; it is added as
    bulk data so the metadata still says the instance has pixels. Values deferred by the
    parse are read from the file object `ds` came from, which must still be open.

    IS and DS values are converted one by one: a value pydicom parsed as a finite number (a
    whole number for IS) is a JSON number, any other value keeps its text, so a malformed
    number is shown rather than lost. An element pydicom cannot convert at all is given as UN
    with its raw bytes.
    """
    walk = _Walk(bulk_data_uri, by_hand=_pydicom_converts_by_default())
    result = _dataset_json(ds, "", walk)
    if pixel_data is not None:
        key = f"{pixel_data.tag:08X}"
        result[key] = {"vr": pixel_data.vr, "BulkDataURI": bulk_data_uri(key)}
    return dict(sorted(result.items()))


@dataclass(frozen=True)
class _Walk:
    """What the elements of one conversion share."""

    bulk_data_uri: BulkDataUri
    by_hand: bool
    """Whether simple raw values are converted here (`_pydicom_converts_by_default`)."""


def _dataset_json(ds: Dataset, prefix: str, walk: _Walk) -> dict[str, Any]:
    result: dict[str, Any] = {}
    encoding = _first_encoding(ds) if walk.by_hand else None
    # The elements as stored, raw or converted, deferred values unread.
    for tag, stored in sorted(ds.items(), key=_tag_order):
        # File meta, command elements and group lengths describe an encoding, not the instance.
        if tag >> 16 in (0x0000, 0x0002) or tag & 0xFFFF == 0:
            continue
        key = f"{tag:08X}"
        result[key] = _element_json(ds, tag, stored, prefix + key, walk, encoding)
    return result


def _tag_order(item: tuple[int, object]) -> int:
    # As plain numbers: pydicom's tags compare in Python code.
    return int(item[0])


def _element_json(
    ds: Dataset,
    tag: int,
    stored: DataElement | RawDataElement,
    path: str,
    walk: _Walk,
    encoding: str | None,
) -> dict[str, Any]:
    """`encoding` is the data set's (`_first_encoding`), None to leave every value to pydicom."""
    header_vr, length = _header(stored, tag)
    if header_vr in _SIZED_BY_HEADER_VRS and (
        tag in PIXEL_DATA_TAGS or length is None or length > BULK_DATA_THRESHOLD
    ):
        return {"vr": header_vr, "BulkDataURI": walk.bulk_data_uri(path)}
    if encoding is not None and header_vr is not None and isinstance(stored, RawDataElement):
        by_hand = _raw_json(stored, header_vr, encoding)
        if by_hand is not None:
            return by_hand
    try:
        element = ds[tag]
        return _converted_json(element, tag, path, walk)
    except Exception:  # pydicom raises assorted errors for values it cannot convert
        return _unconverted_json(ds.get_item(tag, keep_deferred=True), path, walk.bulk_data_uri)


def _header(stored: DataElement | RawDataElement, tag: int) -> tuple[str | None, int | None]:
    """The element's VR and value length as far as known without reading its value.

    Implicit VR elements have no VR in the file; the data dictionary gives it unless it is
    ambiguous, except for pixel data, which PS3.5 A.1 and A.4 fix as OB when encapsulated and
    OW otherwise.
    """
    if isinstance(stored, DataElement):
        value = stored.value
        return stored.VR, len(value) if isinstance(value, bytes) else None
    length = None if stored.length == _UNDEFINED_LENGTH else stored.length
    if stored.VR is not None:
        return stored.VR, length
    if tag == 0x7FE00010:
        return ("OW" if length is not None else "OB"), length
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return None, length
    return (None if " or " in vr else vr), length


def _first_encoding(ds: Dataset) -> str | None:
    """The Python codec pydicom decodes `ds`'s text with when it holds no escape sequence.

    That is the first of the character sets ``Dataset.__getitem__`` passes on: those the data
    set was read with, else its own Specific Character Set or its parent's. None when the
    character set cannot be told: pydicom then fails on each element, and the module gives
    each as UN.
    """
    try:
        encodings = ds.original_character_set or ds._character_set
    except Exception:  # pydicom raises assorted errors for character sets it cannot use
        return None
    if not encodings:
        return default_encoding
    return encodings if isinstance(encodings, str) else encodings[0]


def _pydicom_converts_by_default() -> bool:
    """Whether raw values would go through pydicom's default conversion, which is copied here.

    Hooks, value types of its own (dates, decimals, numpy) or raising on invalid values (when
    reading, or when person names are encoded again) would all change pydicom's JSON.
    """
    return (
        config.data_element_callback is None
        and hooks.hooks.raw_element_vr is hooks.raw_element_vr
        and hooks.hooks.raw_element_value is hooks.raw_element_value
        and not hooks.hooks.raw_element_kwargs
        and not config.datetime_conversion
        and not config.use_DS_decimal
        and not config.use_DS_numpy
        and not config.use_IS_numpy
        and config.settings.reading_validation_mode != RAISE
        and config.settings.writing_validation_mode != RAISE
    )


def _raw_json(raw: RawDataElement, vr: str, encoding: str) -> dict[str, Any] | None:
    """The JSON of a raw element with the VR pydicom gives it, or None to leave it to pydicom.

    Deferred values, UN (pydicom may give it the attribute's real VR), sequences and LUT
    descriptors (pydicom corrects their first value) are left to pydicom. pydicom's reader
    leaves an empty value as None, and converts it as empty whatever it holds.
    """
    value = b"" if raw.length == 0 else raw.value
    if value is None or raw.tag in _LUT_DESCRIPTORS:
        return None
    if vr in _SIZED_BY_HEADER_VRS:
        return _inline_binary_json(vr, value)
    convert = _CONVERSIONS.get(vr)
    values = None if convert is None else convert(value, raw.is_little_endian, encoding)
    if values is None:
        return None
    return {"vr": vr, "Value": values} if values else {"vr": vr}


def _inline_binary_json(vr: str, value: bytes) -> dict[str, Any] | None:
    if len(value) > BULK_DATA_THRESHOLD:
        return None
    if not value:
        return {"vr": vr}
    return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}


# Each conversion takes the raw value, whether it is little endian and the text's codec; it
# returns the JSON values ([] when the element is empty) or None when pydicom has to convert.
_Conversion = Callable[[bytes, bool, str], list[Any] | None]


def _present(values: list[str]) -> list[str]:
    """pydicom gives a single empty string as an empty element, several as they are."""
    return [] if values == [""] else values


def _default_repertoire(value: bytes, _little_endian: bool, _encoding: str) -> list[str] | None:
    """AS, CS, DA, DT and TM: default character set, trailing spaces and NULs dropped."""
    return _present(value.decode(default_encoding).rstrip(" \x00").split("\\"))


def _application_entities(value: bytes, _little_endian: bool, _encoding: str) -> list[str] | None:
    """AE: default character set, leading and trailing spaces of each value dropped."""
    return _present([part.strip() for part in value.decode(default_encoding).split("\\")])


def _uids(value: bytes, _little_endian: bool, _encoding: str) -> list[str] | None:
    """UI: as AS, and pydicom's ``UID`` drops white space around each value too."""
    text = value.decode(default_encoding).rstrip(" \x00")
    return _present([part.strip() for part in text.split("\\")])


def _uri(value: bytes, _little_endian: bool, _encoding: str) -> list[str] | None:
    """UR: one value in the default character set, trailing white space dropped."""
    return _present([value.decode(default_encoding).rstrip()])


def _decoded(value: bytes, encoding: str) -> str | None:
    """The text as pydicom decodes it when it holds no escape sequence (``decode_bytes``).

    Text with escape sequences, or that the codec refuses (pydicom then falls back to another
    codec or to replacement characters, with a warning), is left to pydicom.
    """
    if _ESC in value:
        return None
    try:
        return value.decode(encoding)
    except (LookupError, UnicodeError):
        return None


def _strings(value: bytes, _little_endian: bool, encoding: str) -> list[str] | None:
    """LO, SH and UC: the data set's character set, each value's trailing spaces dropped."""
    text = _decoded(value, encoding)
    if text is None:
        return None
    return _present([part.rstrip("\0 ") for part in text.split("\\")])


def _texts(value: bytes, _little_endian: bool, encoding: str) -> list[str] | None:
    """LT, ST and UT: one value in the data set's character set, backslashes kept."""
    text = _decoded(value, encoding)
    return None if text is None else _present([text.rstrip("\0 ")])


def _person_names(value: bytes, _little_endian: bool, encoding: str) -> list[Any] | None:
    """PN made of alphabetic groups only; names with "=" (component groups) are left to pydicom.

    So is an empty name among others, whose JSON pydicom cannot make (the element becomes UN).
    """
    text = _decoded(value.rstrip(b"\x00 "), encoding)
    if text is None or "=" in text:
        return None
    names = _present(text.split("\\"))
    if "" in names:
        return None
    return [{"Alphabetic": name} for name in names]


def _binary_numbers(
    code: str, size: int, value: bytes, little_endian: bool, _encoding: str
) -> list[Any] | None:
    """US, SS, UL, SL, UV, SV, FL and FD; a length not a multiple of the size is pydicom's."""
    count, rest = divmod(len(value), size)
    if rest:
        return None
    return list(struct.unpack(f"{'<' if little_endian else '>'}{count}{code}", value))


def _attribute_tags(value: bytes, little_endian: bool, _encoding: str) -> list[str] | None:
    """AT: group and element as eight hexadecimal digits."""
    if len(value) % 4:
        return None
    pairs = struct.iter_unpack("<HH" if little_endian else ">HH", value)
    return [f"{group:04X}{element:04X}" for group, element in pairs]


# Values pydicom's IS and DSfloat surely parse, to the same number: ASCII digits only (no
# underscores, no other white space), and few enough for an IS to be exact as a float.
_INTEGER_STRING = re.compile(r" *[+-]?[0-9]{1,15} *")
_DECIMAL_STRING = re.compile(r" *[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)? *")


def _integer_strings(value: bytes, _little_endian: bool, _encoding: str) -> list[Any] | None:
    """IS: split as ``convert_IS_string`` splits it."""
    items = value.decode(default_encoding).rstrip(" \x00").split("\\")
    return _numbers(items, _INTEGER_STRING, int)


def _decimal_strings(value: bytes, _little_endian: bool, _encoding: str) -> list[Any] | None:
    """DS: split as ``convert_DS_string`` splits it."""
    items = value.decode(default_encoding).strip().rstrip(" \x00").split("\\")
    return _numbers(items, _DECIMAL_STRING, float)


def _numbers(
    items: list[str], pattern: re.Pattern[str], number: Callable[[str], float]
) -> list[Any] | None:
    """The numbers of well-formed numeric strings, None for blank ones; if any is malformed
    or not finite, pydicom's path gives each its own fallback (`_number_or_text`)."""
    values: list[Any] = []
    for item in _present(items):
        if not item.strip():
            values.append(None)
            continue
        if pattern.fullmatch(item) is None:
            return None
        parsed = number(item)
        if not math.isfinite(parsed):
            return None
        values.append(parsed)
    return values


_ESC = 0x1B
# The tags whose first value pydicom's value hook corrects, by its own list.
_LUT_DESCRIPTORS = frozenset(_LUT_DESCRIPTOR_TAGS)
_NUMBER_CODES = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "UV": "Q", "SV": "q"}
_NUMBER_CODES |= {"FL": "f", "FD": "d"}
_CONVERSIONS: dict[str, _Conversion] = {
    **dict.fromkeys(("AS", "CS", "DA", "DT", "TM"), _default_repertoire),
    "AE": _application_entities,
    "UI": _uids,
    "UR": _uri,
    **dict.fromkeys(("LO", "SH", "UC"), _strings),
    **dict.fromkeys(("LT", "ST", "UT"), _texts),
    "PN": _person_names,
    **{
        vr: partial(_binary_numbers, code, struct.calcsize("<" + code))
        for vr, code in _NUMBER_CODES.items()
    },
    "AT": _attribute_tags,
    "IS": _integer_strings,
    "DS": _decimal_strings,
}


def _converted_json(element: DataElement, tag: int, path: str, walk: _Walk) -> dict[str, Any]:
    vr = element.VR
    if vr == "SQ":
        items = [
            _dataset_json(item, f"{path}/{index}/", walk)
            for index, item in enumerate(element.value or [])
        ]
        return {"vr": vr, "Value": items} if items else {"vr": vr}
    if (
        vr in BINARY_VRS
        and not element.is_empty
        and (tag in PIXEL_DATA_TAGS or len(element.value) > BULK_DATA_THRESHOLD)
    ):
        return {"vr": vr, "BulkDataURI": walk.bulk_data_uri(path)}
    if vr in ("IS", "DS"):
        return _numeric_string_json(element)
    # Without a handler pydicom inlines binary values, which is wanted at this size.
    json_element: dict[str, Any] = element.to_json_dict(None, 0)
    return json_element


def _numeric_string_json(element: DataElement) -> dict[str, Any]:
    if element.is_empty:
        return {"vr": element.VR}
    values = list(element.value) if element.VM > 1 else [element.value]
    return {"vr": element.VR, "Value": [_number_or_text(value, element.VR) for value in values]}


def _number_or_text(value: object, vr: str) -> int | float | str | None:
    if isinstance(value, str):
        # pydicom leaves every value of an element as text when one of them is malformed;
        # each is given its own chance here.
        text = value.strip()
        if not text:
            return None
        try:
            value = IS(text, IGNORE) if vr == "IS" else DSfloat(text, validation_mode=IGNORE)
        except (ValueError, OverflowError):
            return text
    if value is None:
        return None
    if vr == "IS" and isinstance(value, int):
        return int(value)
    if vr == "DS" and isinstance(value, float | Decimal) and math.isfinite(value):
        return float(value)
    return str(value).strip()


def _unconverted_json(
    stored: DataElement | RawDataElement, path: str, bulk_data_uri: BulkDataUri
) -> dict[str, Any]:
    value = stored.value
    if not isinstance(value, bytes) or len(value) > BULK_DATA_THRESHOLD:
        # No raw bytes at hand (a deferred value, or one already converted): the bulk data
        # endpoint serves the value from the stored file.
        return {"vr": "UN", "BulkDataURI": bulk_data_uri(path)}
    if not value:
        return {"vr": "UN"}
    return {"vr": "UN", "InlineBinary": base64.b64encode(value).decode("ascii")}
