"""What damaged stored content becomes when it is read again.

The service stores files byte for byte, and v2 stores instances whose non-required attributes
are malformed; a file may also carry pixel data that does not decode. Reading such a file later
must not fail the request with a server error:

- converting it to another transfer syntax makes pydicom decode every element; one it cannot
  decode (a VR PS3.5 does not define, a value whose length does not fit its VR) is carried as UN
  with its value bytes unchanged, as PS3.5 6.2.2 prescribes for a VR that is not known (the
  metadata shows the same elements as UN);
- pixel data that cannot be decoded or converted is refused with 406, as for a transfer syntax
  the service cannot decode: the instance is still there as stored (``transfer-syntax=*``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import VR

from shared.errors import DicomwebError, NotAcceptable

log = logging.getLogger(__name__)

UNDECODABLE = "the instance's stored pixel data cannot be decoded"
UNCONVERTIBLE = (
    "the instance cannot be converted to the requested transfer syntax; "
    "transfer-syntax=* returns it as stored"
)

P = ParamSpec("P")
R = TypeVar("R")


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


async def decoded(refusal: str, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``function`` (decoding or converting stored bytes) in a worker thread; when the stored
    data defeats it, 406 with ``refusal``. Nothing in it touches storage, so no failure of a
    dependency is hidden; errors the service raises itself pass unchanged."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except DicomwebError:
        raise
    except Exception as exc:  # decoders raise assorted errors for damaged data
        log.info("stored data could not be decoded: %s", type(exc).__name__)
        raise NotAcceptable(refusal) from exc
