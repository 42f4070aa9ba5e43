"""The three query levels of QIDO-RS and what each one matches on and returns by default."""

from __future__ import annotations

from enum import StrEnum

from shared.dicom.attributes import (
    INSTANCE_DEFAULT_RETURN,
    INSTANCE_MATCHING_KEYS,
    SERIES_DEFAULT_RETURN,
    SERIES_MATCHING_KEYS,
    STUDY_DEFAULT_RETURN,
    STUDY_MATCHING_KEYS,
)

STUDY_ONLY_KEYS = frozenset({"ModalitiesInStudy"})
"""Matching keys held only by study documents (an aggregate over the study's series)."""


class Level(StrEnum):
    """A query level; its value is the ``type`` of the index documents searched at it."""

    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"

    @property
    def depth(self) -> int:
        return _ORDER.index(self)

    @property
    def own_matching_keys(self) -> tuple[str, ...]:
        return _MATCHING[self]

    @property
    def default_return(self) -> tuple[str, ...]:
        return _DEFAULT_RETURN[self]

    def matching_keys(self) -> frozenset[str]:
        """This level's keys and its parents': child documents repeat their parents' attributes."""
        keys = {k for level in _ORDER[: self.depth + 1] for k in level.own_matching_keys}
        return frozenset(keys if self is Level.STUDY else keys - STUDY_ONLY_KEYS)

    def levels_from(self, top: Level) -> tuple[Level, ...]:
        """The levels from ``top`` down to this one, both included."""
        return _ORDER[top.depth : self.depth + 1]


_ORDER = (Level.STUDY, Level.SERIES, Level.INSTANCE)
_MATCHING = {
    Level.STUDY: STUDY_MATCHING_KEYS,
    Level.SERIES: SERIES_MATCHING_KEYS,
    Level.INSTANCE: INSTANCE_MATCHING_KEYS,
}
_DEFAULT_RETURN = {
    Level.STUDY: STUDY_DEFAULT_RETURN,
    Level.SERIES: SERIES_DEFAULT_RETURN,
    Level.INSTANCE: INSTANCE_DEFAULT_RETURN,
}
