"""Elements pydicom cannot convert, kept as UN so that a stored file can still be re-encoded.

The service stores files byte for byte, and v2 stores instances whose non-required attributes
are malformed. Converting such a file to another transfer syntax makes pydicom decode every
element; one it cannot decode (a VR PS3.5 does not define, a value whose length does not fit
its VR) is carried instead as UN with its value bytes unchanged, which is what PS3.5 6.2.2
prescribes for a VR that is not known. The metadata shows the same elements as UN too.
"""

from __future__ import annotations

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import VR


def carry_unreadable_as_un(ds: Dataset) -> None:
    """Replace, in place and in every sequence item, each element pydicom cannot convert."""
    for tag in list(ds.keys()):
        try:
            element = ds[tag]
        except Exception:  # pydicom raises assorted errors for values it cannot convert
            ds[tag] = _unknown(tag, ds.get_item(tag).value)
            continue
        if element.VR == VR.SQ:
            for item in element.value or []:
                carry_unreadable_as_un(item)


def _unknown(tag: int, value: bytes | None) -> DataElement:
    element = DataElement(tag, VR.UN, value or b"", already_converted=True)
    # The constructor swaps UN for the dictionary VR of a public tag; here UN is the point.
    element.VR = VR.UN
    return element
