"""The DICOM JSON made from raw values by hand is pydicom's, exactly: same elements in the same
order, same JSON types, same fallbacks for malformed values.

The oracle is the module as it was when pydicom converted every element, copied here as
`_reference_json`: pydicom's ``Dataset.__getitem__`` and ``to_json_dict`` for each element, with
the module's own rules for bulk data, IS and DS values and unconvertible values.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import config, hooks
from pydicom.data import get_charset_files
from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.valuerep import IS, DSfloat

from shared.dicom.dicom_json import (
    _SIZED_BY_HEADER_VRS,
    BINARY_VRS,
    BULK_DATA_THRESHOLD,
    BulkDataUri,
    to_dicom_json,
)
from shared.dicom.instance_parser import DEFER_SIZE, PIXEL_DATA_TAGS
from tests.data.corpus import corpus

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def uri(path: str) -> str:
    return f"bulk/{path}"


# The reference: the module's conversion through pydicom, element by element.


def _reference_json(ds: Dataset, bulk_data_uri: BulkDataUri) -> dict[str, Any]:
    return dict(sorted(_reference_dataset(ds, "", bulk_data_uri).items()))


def _reference_dataset(ds: Dataset, prefix: str, bulk_data_uri: BulkDataUri) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for tag in sorted(ds.keys()):
        if tag >> 16 in (0x0000, 0x0002) or tag & 0xFFFF == 0:
            continue
        key = f"{tag:08X}"
        result[key] = _reference_element(ds, tag, prefix + key, bulk_data_uri)
    return result


def _reference_element(
    ds: Dataset, tag: int, path: str, bulk_data_uri: BulkDataUri
) -> dict[str, Any]:
    stored = ds.get_item(tag, keep_deferred=True)
    header_vr, length = _reference_header(stored, tag)
    if header_vr in _SIZED_BY_HEADER_VRS and (
        tag in PIXEL_DATA_TAGS or length is None or length > BULK_DATA_THRESHOLD
    ):
        return {"vr": header_vr, "BulkDataURI": bulk_data_uri(path)}
    try:
        return _reference_converted(ds[tag], tag, path, bulk_data_uri)
    except Exception:
        return _reference_unconverted(ds.get_item(tag, keep_deferred=True), path, bulk_data_uri)


def _reference_header(
    stored: DataElement | RawDataElement, tag: int
) -> tuple[str | None, int | None]:
    if isinstance(stored, DataElement):
        value = stored.value
        return stored.VR, len(value) if isinstance(value, bytes) else None
    length = None if stored.length == 0xFFFFFFFF else stored.length
    if stored.VR is not None:
        return stored.VR, length
    if tag == 0x7FE00010:
        return ("OW" if length is not None else "OB"), length
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return None, length
    return (None if " or " in vr else vr), length


def _reference_converted(
    element: DataElement, tag: int, path: str, bulk_data_uri: BulkDataUri
) -> dict[str, Any]:
    vr = element.VR
    if vr == "SQ":
        items = [
            _reference_dataset(item, f"{path}/{index}/", bulk_data_uri)
            for index, item in enumerate(element.value or [])
        ]
        return {"vr": vr, "Value": items} if items else {"vr": vr}
    if (
        vr in BINARY_VRS
        and not element.is_empty
        and (tag in PIXEL_DATA_TAGS or len(element.value) > BULK_DATA_THRESHOLD)
    ):
        return {"vr": vr, "BulkDataURI": bulk_data_uri(path)}
    if vr in ("IS", "DS"):
        if element.is_empty:
            return {"vr": vr}
        values = list(element.value) if element.VM > 1 else [element.value]
        return {"vr": vr, "Value": [_reference_number_or_text(v, vr) for v in values]}
    json_element: dict[str, Any] = element.to_json_dict(None, 0)
    return json_element


def _reference_number_or_text(value: object, vr: str) -> int | float | str | None:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = (
                IS(text, config.IGNORE)
                if vr == "IS"
                else DSfloat(text, validation_mode=config.IGNORE)
            )
        except (ValueError, OverflowError):
            return text
    if value is None:
        return None
    if vr == "IS" and isinstance(value, int):
        return int(value)
    if vr == "DS" and isinstance(value, float | Decimal) and math.isfinite(value):
        return float(value)
    return str(value).strip()


def _reference_unconverted(
    stored: DataElement | RawDataElement, path: str, bulk_data_uri: BulkDataUri
) -> dict[str, Any]:
    value = stored.value
    if not isinstance(value, bytes) or len(value) > BULK_DATA_THRESHOLD:
        return {"vr": "UN", "BulkDataURI": bulk_data_uri(path)}
    if not value:
        return {"vr": "UN"}
    return {"vr": "UN", "InlineBinary": base64.b64encode(value).decode("ascii")}


def assert_same_json(made: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal as JSON text: the same keys in the same order, and the same JSON types (1 is not
    1.0, None is not ""); NaN, which is unequal to itself, compares too."""
    assert json.dumps(made) == json.dumps(expected)


# Every real file, as the store parses heads and as a whole.


def _real_files() -> list[Path]:
    charset_files = [Path(p) for p in get_charset_files("*.dcm")]
    return [f.path for f in corpus()] + sorted(charset_files, key=lambda p: p.name)


def _head(path: Path) -> Dataset:
    return pydicom.dcmread(path, defer_size=DEFER_SIZE, stop_before_pixels=True)


def _whole(path: Path) -> Dataset:
    return pydicom.dcmread(path)


@pytest.mark.parametrize("path", _real_files(), ids=lambda p: p.name)
@pytest.mark.parametrize("read", [_head, _whole], ids=["head", "whole"])
def test_real_files_convert_as_pydicom_converts_them(
    path: Path, read: Callable[[Path], Dataset]
) -> None:
    # Converting keeps pydicom's converted elements in the data set: each side reads its own.
    assert_same_json(to_dicom_json(read(path), uri), _reference_json(read(path), uri))


def _walk(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for element in obj.values():
        yield element
        for item in element.get("Value", []) if element["vr"] == "SQ" else []:
            yield from _walk(item)


def test_the_real_files_hold_what_is_left_to_pydicom() -> None:
    """Sequences, component groups (ideographic names, in escape sequences), malformed
    numbers, unconvertible values and deferred ones: the corpus reaches every fallback."""
    elements = [e for path in _real_files() for e in _walk(_reference_json(_head(path), uri))]
    names = [v for e in elements if e["vr"] == "PN" for v in e.get("Value", [])]
    numbers = [v for e in elements if e["vr"] in ("IS", "DS") for v in e.get("Value", [])]
    assert any(e["vr"] == "SQ" and e.get("Value") for e in elements)
    assert any("Ideographic" in name for name in names)
    assert any(isinstance(number, str) for number in numbers)
    assert any(e["vr"] == "UN" for e in elements)
    assert any("BulkDataURI" in e for e in elements)


# Generated data sets of simple elements, written as a file would hold them.

_TEXT_VRS = ("AE", "AS", "CS", "DA", "DT", "TM", "UI", "UR", "LO", "SH", "UC", "LT", "ST", "UT")
_NUMBER_CODES = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "UV": "Q", "SV": "q"}
_NUMBER_CODES |= {"FL": "f", "FD": "d"}
_CHARACTER_SETS = (
    "",
    "ISO_IR 6",
    "ISO_IR 100",
    "ISO_IR 192",
    "ISO_IR 144",
    "ISO_IR 126",
    "ISO_IR 13",
    "GB18030",
    "\\ISO 2022 IR 87",
    "ISO 2022 IR 6\\ISO 2022 IR 100",
    "NOT A CHARACTER SET",
)
_CODECS = ("ascii", "latin-1", "utf-8", "cp1251", "iso8859-7", "gb18030", "shift_jis")


def _dictionary_tags(vr: str) -> list[int]:
    return sorted(
        tag
        for tag, entry in DicomDictionary.items()
        if entry[0] == vr and tag >> 16 not in (0x0000, 0x0002, 0x7FE0) and tag & 0xFFFF
    )


_TAGS_BY_VR = {vr: _dictionary_tags(vr) for vr in (*_TEXT_VRS, "PN", "IS", "DS", "AT", "OB")}
_TAGS_BY_VR |= {vr: _dictionary_tags(vr) for vr in _NUMBER_CODES}
# Implicit VR elements whose VR pydicom works out from other elements.
_AMBIGUOUS_TAGS = [
    tag
    for vr in ("US or SS", "OB or OW", "US or OW", "US or SS or OW")
    for tag in _dictionary_tags(vr)
]


@st.composite
def _texts(draw: st.DrawFn, alphabet: str, padding: tuple[str, ...]) -> bytes:
    """Values joined by backslashes and padded, encoded as some writer would, or any bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=24))
    parts = draw(st.lists(st.text(alphabet, max_size=8), min_size=1, max_size=4))
    text = "\\".join(parts) + draw(st.sampled_from(padding))
    return text.encode(draw(st.sampled_from(_CODECS)), errors="replace")


_WORDS = "AZaz09 ^=.-+_\t\x00\x1béÄжΩ山やﾀ"
_NUMERALS = "0123456789 +-.eE"
_ODD_NUMERALS = ("nan", "inf", "1e999", "99999999999999999999", "1_0", "x7", "²", "\xa05", "\t5")


_NUMBERS = st.one_of(
    st.integers(-(10**5), 10**5).map(str),
    st.integers(-(10**20), 10**20).map(str),
    st.floats().map(repr),
    st.floats(allow_nan=False).map(lambda f: f"{f:.6g}"),
)


@st.composite
def _numeric_strings(draw: st.DrawFn) -> bytes:
    """Numbers as writers write them, with spaces around, or malformed."""
    number = st.tuples(st.sampled_from(("", " ")), _NUMBERS, st.sampled_from(("", " ")))
    item = st.one_of(
        number.map("".join), st.text(_NUMERALS, max_size=10), st.sampled_from(_ODD_NUMERALS)
    )
    parts = draw(st.lists(item, min_size=1, max_size=4))
    return ("\\".join(parts) + draw(st.sampled_from(("", " ", "\x00")))).encode("latin-1")


def _binary_numbers(size: int) -> st.SearchStrategy[bytes]:
    counts = st.integers(0, 4).map(lambda n: n * size)
    whole = counts.flatmap(lambda n: st.binary(min_size=n, max_size=n))
    return st.one_of(whole, st.binary(max_size=2 * size + 1))


def _values(vr: str) -> st.SearchStrategy[bytes]:
    if vr in _TEXT_VRS:
        return _texts(_WORDS, ("", " ", "\x00", "  "))
    if vr == "PN":
        return _texts("AZaz ^=é山やﾀ", ("", " ", "\x00"))
    if vr in ("IS", "DS"):
        return _numeric_strings()
    if vr in _NUMBER_CODES:
        return _binary_numbers(struct.calcsize("<" + _NUMBER_CODES[vr]))
    if vr == "AT":
        return _binary_numbers(4)
    return st.binary(max_size=40)


_VRS = (*_TEXT_VRS, "PN", "IS", "DS", "AT", "OB", "OW", "UN", *_NUMBER_CODES)


@dataclass(frozen=True)
class _Element:
    tag: int
    vr: str | None
    value: bytes


@st.composite
def _elements(draw: st.DrawFn, implicit: bool) -> _Element:
    """Explicit VR: any tag, public or private. Implicit VR: mostly a tag of the dictionary
    with that VR, else one whose VR is ambiguous, private or unknown."""
    vr = draw(st.sampled_from(_VRS))
    value = draw(_values(vr))
    group = draw(st.integers(0x0008, 0x7FDF))
    tag = (group << 16) | draw(st.integers(1, 0xFFFF))
    if not implicit:
        return _Element(tag, vr, value)
    known = st.sampled_from(_TAGS_BY_VR.get(vr, _AMBIGUOUS_TAGS))
    tag = draw(st.one_of(known, known, st.sampled_from(_AMBIGUOUS_TAGS), st.just(tag)))
    return _Element(tag, None, value)


@dataclass(frozen=True)
class _Spec:
    implicit: bool
    little_endian: bool
    character_set: str | None
    read_with_it: bool
    empty_as_none: bool
    elements: tuple[_Element, ...]

    def dataset(self) -> Dataset:
        """A data set of raw elements as pydicom's reader leaves them, an empty value as None
        (as the reader does) or as no bytes."""
        raws = [
            RawDataElement(
                Tag(e.tag),
                e.vr,
                len(e.value),
                None if self.empty_as_none and not e.value else e.value,
                0,
                self.implicit,
                self.little_endian,
            )
            for e in self.elements
            if e.tag != 0x00080005
        ]
        if self.character_set is not None:
            value = self.character_set.encode("latin-1")
            vr = None if self.implicit else "CS"
            raws.append(
                RawDataElement(
                    Tag(0x00080005), vr, len(value), value, 0, self.implicit, self.little_endian
                )
            )
        ds = Dataset({raw.tag: raw for raw in raws})
        if self.read_with_it:
            # As dcmread does: the data set remembers the character set it was read with.
            ds.set_original_encoding(self.implicit, self.little_endian, ds._character_set)
        return ds


@st.composite
def _specs(draw: st.DrawFn) -> _Spec:
    implicit = draw(st.booleans())
    return _Spec(
        implicit=implicit,
        little_endian=draw(st.booleans()),
        character_set=draw(st.none() | st.sampled_from(_CHARACTER_SETS)),
        read_with_it=draw(st.booleans()),
        empty_as_none=draw(st.booleans()),
        elements=tuple(draw(st.lists(_elements(implicit), max_size=12))),
    )


def _converted(spec: _Spec, convert: Callable[[Dataset, BulkDataUri], dict[str, Any]]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert(spec.dataset(), uri)


@settings(max_examples=400, deadline=None)
@given(_specs())
def test_generated_data_sets_convert_as_pydicom_converts_them(spec: _Spec) -> None:
    assert_same_json(_converted(spec, to_dicom_json), _converted(spec, _reference_json))


# Values at the edges of what is converted by hand, each alone in a data set.

_EDGES = [
    # Integers a float holds exactly, and those it does not (pydicom keeps those as text).
    ("IS", b"123456789012345 "),
    ("IS", b"9007199254740993"),
    ("IS", b"99999999999999999999"),
    ("IS", b" +12\\-0\\ "),
    ("IS", b"1.0 "),
    ("IS", b"1_0 "),
    ("IS", b"\t"),
    ("IS", b"12\\\t\\3 "),
    # White space only, around numbers, numbers pydicom parses but JSON cannot hold.
    ("DS", b"\t"),
    ("DS", b"\t\x00"),
    ("DS", b" 1.5\t"),
    ("DS", b"\xa01.5"),
    ("DS", b".5\\5.\\1e5\\-1E-5 "),
    ("DS", b"1_0"),
    ("DS", b"1e999 "),
    ("DS", b"-inf"),
    ("DS", b"nan "),
    # Empty names among others, component groups, padding.
    ("PN", b"Doe^John\\\\Roe"),
    ("PN", b"Doe^John="),
    ("PN", b"=Doe"),
    ("PN", b"\\"),
    ("PN", b"  "),
    ("UI", b" 1.2 \\ 3.4\x00"),
    ("AE", b" AE1 \\AE2\x00"),
    ("UR", b"http://a/ \t"),
    ("CS", b"A\\\\B \x00"),
    ("LO", b"caf\xe9 \\ x"),
    ("LT", b"a\\b \x00"),
    ("SH", b"\x1b(Babc"),
    ("AT", b"\x08\x00\x10\x00\x28\x00"),
    ("US", b"\x01\x02\x03"),
    ("FD", b"\x00\x00\x00\x00\x00\x00\xf8\x7f"),
]
# LUT descriptors: pydicom makes a negative first SS value positive.
_LUT_DESCRIPTOR = struct.pack("<3h", -32768, 0, 16)
_EDGE_ELEMENTS = [(0x00091010, vr, value) for vr, value in _EDGES] + [
    (0x00283002, "SS", _LUT_DESCRIPTOR),
    (0x00281101, "SS", _LUT_DESCRIPTOR),
    (0x00281101, "US", _LUT_DESCRIPTOR),
]


@pytest.mark.parametrize(("tag", "vr", "value"), _EDGE_ELEMENTS)
@pytest.mark.parametrize("little_endian", [True, False], ids=["little", "big"])
def test_edge_values_convert_as_pydicom_converts_them(
    tag: int, vr: str, value: bytes, little_endian: bool
) -> None:
    spec = _Spec(False, little_endian, "ISO_IR 100", True, False, (_Element(tag, vr, value),))
    assert_same_json(_converted(spec, to_dicom_json), _converted(spec, _reference_json))


# pydicom set up to convert otherwise: everything is left to it.


@contextmanager
def _datetime_conversion() -> Iterator[None]:
    config.datetime_conversion = True
    try:
        yield
    finally:
        config.datetime_conversion = False


def _hooked(raw: RawDataElement, data: dict[str, Any], **kwargs: Any) -> None:
    hooks.raw_element_value(raw, data, **kwargs)
    if isinstance(data["value"], str) and data["value"]:
        data["value"] = "hooked"


@contextmanager
def _value_hook() -> Iterator[None]:
    hooks.hooks.register_callback("raw_element_value", _hooked)
    try:
        yield
    finally:
        hooks.hooks.register_callback("raw_element_value", hooks.raw_element_value)


@pytest.mark.parametrize("configured", [_datetime_conversion, _value_hook])
def test_pydicom_configured_otherwise_converts_every_element(
    configured: Callable[[], AbstractContextManager[None]],
) -> None:
    path = next(f.path for f in corpus() if f.name == "CT_small.dcm")
    with configured():
        made = to_dicom_json(_head(path), uri)
        expected = _reference_json(_head(path), uri)
    # Dates are pydicom's own type then: compared as their text, and one of them as it is.
    assert json.dumps(made, default=str) == json.dumps(expected, default=str)
    assert made["00080020"] == expected["00080020"]
