"""The names of a study's files in a download: ``{series number}-{instance number}.dcm``.

Numbers are what a reader recognises (a viewer lists series and images by them) and carry no UID.
A number an instance lacks is replaced by its series' or its own digest (``keys``), never by a
UID, which may embed patient data. Numbers are not unique (two series both numbered 1, an instance
number repeated or absent), so every instance whose name another would share gets its own digest
in place of the instance number: names stay readable where they can, are always unique, and the
same study always gets the same names, from the zip answer and from ``cli download`` alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from shared.uid_index.keys import InstanceRef

EXTENSION = ".dcm"


class Numbered(Protocol):
    """An instance and its numbers, as the index (``StoredInstance``) or a file gives them."""

    @property
    def ref(self) -> InstanceRef: ...

    @property
    def series_number(self) -> int | None: ...

    @property
    def instance_number(self) -> int | None: ...


def _series_part(item: Numbered) -> str:
    number = item.series_number
    return str(number) if number is not None else item.ref.series.key


def _name(item: Numbered, instance_part: str) -> str:
    return f"{_series_part(item)}-{instance_part}{EXTENSION}"


def file_names(items: Sequence[Numbered]) -> list[str]:
    """One unique file name per instance, in the order given."""
    names = [
        _name(item, str(item.instance_number) if item.instance_number is not None else item.ref.key)
        for item in items
    ]
    used = Counter(names)
    return [
        name if used[name] == 1 else _name(item, item.ref.key)
        for name, item in zip(names, items, strict=True)
    ]
