"""The DICOM JSON model (PS3.18 Annex F) of a stored instance, with bulk data by reference.

The metadata endpoints serve this JSON without touching the DICOM file again, so it is made
once at ingest and has to survive whatever real-world files contain: values pydicom cannot
convert are written in a faithful fallback form instead of failing the whole instance.
"""

import base64
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from pydicom.config import IGNORE
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
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
    result = _dataset_json(ds, "", bulk_data_uri)
    if pixel_data is not None:
        key = f"{pixel_data.tag:08X}"
        result[key] = {"vr": pixel_data.vr, "BulkDataURI": bulk_data_uri(key)}
    return dict(sorted(result.items()))


def _dataset_json(ds: Dataset, prefix: str, bulk_data_uri: BulkDataUri) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for tag in sorted(ds.keys()):
        # File meta, command elements and group lengths describe an encoding, not the instance.
        if tag >> 16 in (0x0000, 0x0002) or tag & 0xFFFF == 0:
            continue
        key = f"{tag:08X}"
        result[key] = _element_json(ds, tag, prefix + key, bulk_data_uri)
    return result


def _element_json(ds: Dataset, tag: int, path: str, bulk_data_uri: BulkDataUri) -> dict[str, Any]:
    stored = ds.get_item(tag, keep_deferred=True)
    header_vr, length = _header(stored, tag)
    if header_vr in _SIZED_BY_HEADER_VRS and (
        tag in PIXEL_DATA_TAGS or length is None or length > BULK_DATA_THRESHOLD
    ):
        return {"vr": header_vr, "BulkDataURI": bulk_data_uri(path)}
    try:
        element = ds[tag]
        return _converted_json(element, tag, path, bulk_data_uri)
    except Exception:  # pydicom raises assorted errors for values it cannot convert
        return _unconverted_json(ds.get_item(tag, keep_deferred=True), path, bulk_data_uri)


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


def _converted_json(
    element: DataElement, tag: int, path: str, bulk_data_uri: BulkDataUri
) -> dict[str, Any]:
    vr = element.VR
    if vr == "SQ":
        items = [
            _dataset_json(item, f"{path}/{index}/", bulk_data_uri)
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
