"""Data partition names in request paths (``/v{n}/partitions/{name}/...``).

A name is 1 to 64 letters, digits, ``.``, ``-`` and ``_``, as in the Azure DICOM service, so
that DICOM UIDs, GUIDs and readable names all fit. Messages name the rule, never the value.
"""

from __future__ import annotations

import re

from shared.errors import BadRequest

_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def partition_name(value: str, *, enabled: bool) -> str:
    """``value`` as a partition name; 400 when partitions are off or the name breaks the rule."""
    if not enabled:
        raise BadRequest("data partitions are not enabled on this service")
    if not _NAME.fullmatch(value):
        raise BadRequest("a data partition name is 1 to 64 letters, digits, '.', '-' and '_'")
    return value
