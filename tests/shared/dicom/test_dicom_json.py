"""DICOM JSON (PS3.18 Annex F) of real files, including invalid values and character sets."""

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file, get_testdata_files
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian

from shared.dicom.dicom_json import BULK_DATA_THRESHOLD, to_dicom_json
from shared.dicom.instance_parser import InstanceParser, InvalidInstance

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def data_path(name: str) -> str:
    """The path of a pydicom-data file; the lookup's declared type is wider than its use."""
    return str(get_testdata_file(name))


KEY = re.compile(r"^[0-9A-F]{8}$")


def uri(path: str) -> str:
    return f"bulk/{path}"


def head(name: str) -> Dataset:
    return pydicom.dcmread(data_path(name), stop_before_pixels=True)


def charset(name: str) -> Dataset:
    return pydicom.dcmread(get_charset_files(name)[0])


def walk(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for key, element in obj.items():
        found.append((key, element))
        for item in element.get("Value", []) if element["vr"] == "SQ" else []:
            found.extend(walk(item))
    return found


def raw(tag: int, vr: str, value: bytes) -> RawDataElement:
    return RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_implicit.dcm", "rtplan.dcm", "test-SR.dcm"]
)
def test_keys_are_uppercase_hex_and_vrs_resolved(name: str) -> None:
    result = to_dicom_json(head(name), uri)
    elements = walk(result)
    assert elements
    for key, element in elements:
        assert KEY.match(key), key
        assert isinstance(element["vr"], str) and len(element["vr"]) == 2
    assert list(result) == sorted(result)


def test_file_meta_and_group_lengths_are_left_out() -> None:
    ds = head("CT_small.dcm")
    ds.add_new(0x00080000, "UL", 100)
    result = to_dicom_json(ds, uri)
    assert not [key for key in result if key.startswith("0002") or key.endswith("0000")]


def test_numbers_and_strings() -> None:
    result = to_dicom_json(head("CT_small.dcm"), uri)
    assert result["00180050"] == {"vr": "DS", "Value": [5.0]}
    assert result["00200013"] == {"vr": "IS", "Value": [1]}
    assert result["00280010"] == {"vr": "US", "Value": [128]}
    assert result["00200032"]["Value"] == [-158.135803, -179.035797, -75.699997]
    assert result["00080060"] == {"vr": "CS", "Value": ["CT"]}


def test_person_name_shape() -> None:
    result = to_dicom_json(charset("chrH31.dcm"), uri)
    assert result["00100010"] == {
        "vr": "PN",
        "Value": [
            {
                "Alphabetic": "Yamada^Tarou",
                "Ideographic": "山田^太郎",
                "Phonetic": "やまだ^たろう",
            }
        ],
    }
    assert to_dicom_json(head("CT_small.dcm"), uri)["00100010"] == {
        "vr": "PN",
        "Value": [{"Alphabetic": "CompressedSamples^CT1"}],
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("chrX1.dcm", {"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小東"}),
        ("chrX2.dcm", {"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小东"}),
        ("chrArab.dcm", {"Alphabetic": "قباني^لنزار"}),
        ("chrGreek.dcm", {"Alphabetic": "Διονυσιος"}),
        ("chrRuss.dcm", {"Alphabetic": "Люкceмбypг"}),
        ("chrFren.dcm", {"Alphabetic": "Buc^Jérôme"}),
    ],
)
def test_character_sets_decode_to_unicode(name: str, expected: dict[str, str]) -> None:
    result = to_dicom_json(charset(name), uri)
    value = result["00100010"]["Value"][0]
    assert {k: v for k, v in value.items() if v} == expected


def test_character_set_of_a_sequence_item() -> None:
    result = to_dicom_json(charset("chrSQEncoding.dcm"), uri)
    item = result["00321064"]["Value"][0]
    assert item["00100010"]["Value"][0]["Ideographic"] == "山田^太郎"
    assert item["00100010"]["Value"][0]["Alphabetic"] == "ﾔﾏﾀﾞ^ﾀﾛｳ"


def test_invalid_integer_string_keeps_its_text() -> None:
    result = to_dicom_json(head("badVR.dcm"), uri)
    assert result["00280008"] == {"vr": "IS", "Value": ["1A"]}
    assert result["00280009"] == {"vr": "AT", "Value": ["3004000C"]}


def test_empty_values_have_no_value() -> None:
    result = to_dicom_json(head("reportsi_with_empty_number_tags.dcm"), uri)
    for key in ("00080020", "00100020", "00081161", "00109431", "00186020"):
        assert set(result[key]) == {"vr"}, key
    assert result["00081111"] == {"vr": "SQ"}


def test_numeric_string_rule() -> None:
    ds = Dataset(
        {
            Tag(0x00200013): raw(0x00200013, "IS", b"1.5 "),
            Tag(0x00201002): raw(0x00201002, "IS", b"12\\\\x7"),
            Tag(0x00180050): raw(0x00180050, "DS", b"NaN "),
            Tag(0x00280030): raw(0x00280030, "DS", b"0.5\\1e3 "),
        }
    )
    result = to_dicom_json(ds, uri)
    assert result["00200013"]["Value"] == ["1.5"]
    assert result["00201002"]["Value"] == [12, None, "x7"]
    assert result["00180050"]["Value"] == ["NaN"]
    assert result["00280030"]["Value"] == [0.5, 1000.0]


def test_unconvertible_value_goes_out_as_un() -> None:
    ds = Dataset({Tag(0x00280010): raw(0x00280010, "US", b"\x01\x02\x03")})
    assert to_dicom_json(ds, uri)["00280010"] == {"vr": "UN", "InlineBinary": "AQID"}


def test_un_elements_get_their_real_vr() -> None:
    result = to_dicom_json(head("explicit_VR-UN.dcm"), uri)
    assert result["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "PANCREAS_0001"}]}


def test_binary_values_inline_below_and_bulk_above_threshold() -> None:
    ds = head("CT_small.dcm")
    ds.add_new(0x00091010, "LO", "Example")
    ds.add_new(0x00091011, "OB", b"\x01\x02")
    ds.add_new(0x00091012, "OB", bytes(BULK_DATA_THRESHOLD))
    ds.add_new(0x00091013, "OW", bytes(BULK_DATA_THRESHOLD + 2))
    ds.add_new(0x00091014, "OB", b"")
    result = to_dicom_json(ds, uri)
    assert result["00091011"] == {"vr": "OB", "InlineBinary": "AQI="}
    assert "InlineBinary" in result["00091012"]
    assert result["00091013"] == {"vr": "OW", "BulkDataURI": "bulk/00091013"}
    assert result["00091014"] == {"vr": "OB"}


def test_bulk_data_paths_of_nested_elements() -> None:
    inner = Dataset()
    inner.add_new(0x00091011, "OB", bytes(4000))
    middle = Dataset()
    middle.add_new(0x00091010, "LO", "Example")
    middle.add_new(0x00091012, "SQ", Sequence([Dataset(), inner]))
    icon = Dataset()
    icon.PixelData = bytes(2000)
    icon["PixelData"].VR = "OB"
    ds = head("CT_small.dcm")
    ds.add_new(0x00091010, "LO", "Example")
    ds.add_new(0x00091020, "SQ", Sequence([middle]))
    ds.IconImageSequence = Sequence([icon])
    result = to_dicom_json(ds, uri)
    leaf = result["00091020"]["Value"][0]["00091012"]["Value"][1]["00091011"]
    assert leaf == {"vr": "OB", "BulkDataURI": "bulk/00091020/0/00091012/1/00091011"}
    assert result["00880200"]["Value"][0]["7FE00010"] == {
        "vr": "OB",
        "BulkDataURI": "bulk/00880200/0/7FE00010",
    }


def test_pixel_data_left_out_of_the_head_is_added_as_bulk() -> None:
    data = Path(data_path("CT_small.dcm")).read_bytes()
    parser = InstanceParser()
    parser.feed(data)
    parsed = parser.finish()
    result = to_dicom_json(parsed.dataset, uri, parsed.pixel_data)
    assert result["7FE00010"] == {"vr": "OW", "BulkDataURI": "bulk/7FE00010"}
    assert list(result)[-1] == "7FE00010"


def test_pixel_data_in_the_data_set_is_always_bulk() -> None:
    ds = pydicom.dcmread(data_path("SC_rgb_small_odd.dcm"))
    assert len(ds.PixelData) < BULK_DATA_THRESHOLD
    result = to_dicom_json(ds, uri)
    assert result["7FE00010"] == {"vr": ds["PixelData"].VR, "BulkDataURI": "bulk/7FE00010"}


def test_deferred_bulk_values_are_not_read() -> None:
    ds = head("CT_small.dcm")
    ds.add_new(0x00091010, "LO", "Example")
    ds.add_new(0x00091011, "OB", bytes(50_000))
    ds.add_new(0x00091012, "LT", "x" * 5000)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    with InstanceParser() as parser:
        parser.feed(out.getvalue())
        parsed = parser.finish()
        result = to_dicom_json(parsed.dataset, uri)
        assert parsed.dataset.get_item(0x00091011, keep_deferred=True).value is None
    assert result["00091011"] == {"vr": "OB", "BulkDataURI": "bulk/00091011"}
    assert result["00091012"] == {"vr": "LT", "Value": ["x" * 5000]}


def _all_files() -> list[str]:
    files = [f for f in get_testdata_files("**/*") if os.path.isfile(f)]
    return files + get_charset_files("*.dcm")


def test_never_fails_on_the_corpus() -> None:
    converted = 0
    for path in _all_files():
        data = Path(path).read_bytes()
        parser = InstanceParser()
        try:
            parser.feed(data)
            parsed = parser.finish()
        except InvalidInstance:
            continue
        result = to_dicom_json(parsed.dataset, uri, parsed.pixel_data)
        json.dumps(result, allow_nan=False)
        for key, element in walk(result):
            assert KEY.match(key)
            assert "Value" not in element or element["Value"] != []
        converted += 1
    assert converted >= 240
