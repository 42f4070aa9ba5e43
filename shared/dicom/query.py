"""A search in DICOM terms (PS3.4 C.2.2.2): the level, the matching keys and their matching
rules, what each result returns, and which page.

The web protocol parses a QIDO-RS request into a ``SearchQuery`` (``shared.web.search_params``);
the index answers it (``shared.uid_index.index.Index.search``). Values are already in the forms
the index stores (``shared.dicom.search_forms``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from shared.dicom.query_levels import Level
from shared.dicom.query_tags import QueryTag

DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class ValueMatch:
    """Single value matching, or list of UID matching when there are several values."""

    keyword: str
    values: tuple[str | int | float, ...]


@dataclass(frozen=True)
class WildcardMatch:
    """``*`` (any run of characters) and ``?`` (one character) in an otherwise literal value."""

    keyword: str
    pattern: str


@dataclass(frozen=True)
class RangeMatch:
    """Inclusive bounds, either of which may be open; compared as strings of one fixed form."""

    keyword: str
    low: str | None
    high: str | None


@dataclass(frozen=True)
class WordPrefixMatch:
    """Fuzzy person-name matching: every word of the query starts some word of the name."""

    keyword: str
    words: tuple[str, ...]


Match = ValueMatch | WildcardMatch | RangeMatch | WordPrefixMatch


@dataclass(frozen=True)
class SearchQuery:
    """One QIDO-RS request: where it searches, what it matches, returns, and which page."""

    level: Level
    study_uid: str | None = None
    series_uid: str | None = None
    matches: tuple[Match, ...] = ()
    include: frozenset[str] = frozenset()
    """Keywords returned on top of the defaults: includefield values and every matching key."""
    include_all: bool = False
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    extended: tuple[QueryTag, ...] = ()
    """The extended query tags the matches name (a match names one by ``QueryTag.name``)."""
    ignored: tuple[str, ...] = ()
    """Extended query tags the request named that are disabled for search, and were ignored."""

    def extended_tag(self, keyword: str) -> QueryTag | None:
        """The extended query tag a match's keyword names; None for a built-in attribute."""
        return next((t for t in self.extended if t.name == keyword), None)

    @cached_property
    def returned(self) -> frozenset[str] | None:
        """The keywords each result carries, or None for every attribute the index holds."""
        if self.include_all:
            return None
        defaults = {k for level in self.returned_levels for k in level.default_return}
        return frozenset(defaults | self.include)

    @property
    def returned_levels(self) -> tuple[Level, ...]:
        """The levels whose attributes each result carries: those not fixed by the path."""
        if self.series_uid is not None:
            return self.level.levels_from(Level.INSTANCE)
        if self.study_uid is not None:
            return self.level.levels_from(Level.SERIES)
        return self.level.levels_from(Level.STUDY)
