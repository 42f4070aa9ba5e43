"""Instance metadata from the service against pydicom's DICOM JSON of the same file.

The service's answer must be pydicom's ``Dataset.to_json_dict`` with exactly three allowances:

- retired group length elements (gggg,0000) may be left out;
- Data Set Trailing Padding (FFFC,FFFC) may be left out;
- a binary value may be a BulkDataURI instead of pydicom's InlineBinary.

Everything else (tags, VRs, values, sequence items) must be equal.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

TRAILING_PADDING = "FFFCFFFC"

# pydicom inlines every binary value below this size; the service's threshold is far lower.
_INLINE_ALL = 2**31


def oracle_json(ds: Dataset, beyond_pydicom: dict[str, Any] | None = None) -> dict[str, Any]:
    """pydicom's DICOM JSON of ``ds``, every binary value inline.

    ``beyond_pydicom`` gives the elements pydicom cannot convert (a malformed number): they are
    left out of its JSON and these stand in for them. Without it, any such element fails.
    """
    if beyond_pydicom is None:
        return ds.to_json_dict(_INLINE_ALL)
    return ds.to_json_dict(_INLINE_ALL, suppress_invalid_tags=True) | beyond_pydicom


def json_differences(expected: dict[str, Any], got: dict[str, Any], path: str = "") -> list[str]:
    """Where ``got`` differs from ``expected`` beyond the allowances, one line each."""
    found = []
    for tag in sorted(set(expected) | set(got)):
        where = f"{path}{tag}"
        if tag not in got:
            if not (_is_group_length(tag) or tag == TRAILING_PADDING):
                found.append(f"{where}: missing")
        elif tag not in expected:
            found.append(f"{where}: unexpected {got[tag]}")
        else:
            found += _element_differences(expected[tag], got[tag], where)
    return found


def _is_group_length(tag: str) -> bool:
    return tag.endswith("0000")


def _element_differences(expected: dict[str, Any], got: dict[str, Any], where: str) -> list[str]:
    if expected.get("vr") != got.get("vr"):
        return [f"{where}: VR {got.get('vr')} instead of {expected.get('vr')}"]
    if "InlineBinary" in expected:
        if "BulkDataURI" in got or got.get("InlineBinary") == expected["InlineBinary"]:
            return []
        return [f"{where}: binary value differs"]
    if expected.get("vr") == "SQ":
        items, got_items = expected.get("Value", []), got.get("Value", [])
        if len(items) != len(got_items):
            return [f"{where}: {len(got_items)} items instead of {len(items)}"]
        found = []
        for index, (item, got_item) in enumerate(zip(items, got_items, strict=True)):
            found += json_differences(item, got_item, f"{where}/{index}/")
        return found
    if expected.get("Value") == got.get("Value") and expected.keys() == got.keys():
        return []
    return [f"{where}: {got} instead of {expected}"]
