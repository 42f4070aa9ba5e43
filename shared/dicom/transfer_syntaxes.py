"""Transfer syntax UIDs that the service names in its own logic (PS3.5 Annex A, PS3.18 §8.7.3.5).

The rest are pydicom's (``pydicom.uid``); these are the ones negotiation and conversion compare
against, kept here so that neither has to import the other.
"""

from __future__ import annotations

AS_STORED = "*"
"""The ``transfer-syntax=*`` of an Accept header: the instance as it is stored, unconverted."""

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
UNCOMPRESSED_LITTLE_ENDIAN = frozenset({EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN})
