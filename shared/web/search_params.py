"""The query parameters of a QIDO-RS request, parsed and checked into a typed search.

Everything a search may do is decided here, before any storage is touched: which attributes are
matched and how (PS3.4 C.2.2.2), which are returned, and which page is wanted. Values are
normalised into the forms the index stores (``shared.dicom.search_forms``). Errors name the
attribute or parameter at fault and never repeat the value, which may be patient data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import date

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from shared.dicom.query import (
    DEFAULT_LIMIT,
    Match,
    RangeMatch,
    SearchQuery,
    ValueMatch,
    WildcardMatch,
    WordPrefixMatch,
)
from shared.dicom.query_levels import Level
from shared.dicom.query_tags import QueryStatus, QueryTag, TagStatus, find, tag_path
from shared.dicom.search_forms import datetime_key, fold_text, name_words, time_key
from shared.dicom.validation import is_valid_uid
from shared.dicom.wildcard import WILDCARDS
from shared.errors import BadRequest

MAX_LIMIT = 1000
MAX_OFFSET = 10_000
"""Paging skips ``offset`` matches inside the query, so the offset is bounded like the page."""
MAX_WILDCARDS = 16
"""``*`` and ``?`` in one value. Matching time does not grow with their number
(``shared.dicom.wildcard``), so the bound is on the query's size: at most 17 literal runs, each one
more index condition. Hand-written patterns use one to three (``doe*``, ``*doe*john*``); 16 is a
quarter of the longest value, and admits the nine of the pattern that once stalled the emulator."""
PN_GROUP_LENGTH = 64
"""PS3.5 Table 6.2-1: a person name has at most 64 characters in each component group."""

_TAG = re.compile(r"[0-9A-Fa-f]{8}")
_DATE = re.compile(r"[0-9]{8}")
_INTEGER = re.compile(r"[+-]?[0-9]{1,10}")
_COUNT = re.compile(r"[0-9]{1,9}")
_STRING_VRS = {"AE": 16, "AS": 4, "CS": 16, "LO": 64, "SH": 16}
"""The string VRs matched by value or wildcard, with their longest value (PS3.5 Table 6.2-1)."""
_INTEGER_VRS = frozenset({"IS", "SL", "SS", "UL", "US"})
_DECIMAL_VRS = frozenset({"DS", "FD", "FL"})


def parse_search(
    level: Level,
    params: Iterable[tuple[str, str]],
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    tags: Sequence[QueryTag] = (),
) -> SearchQuery:
    """Parse the (already percent-decoded) query parameters of a search at ``level``; ``tags``
    are the registered extended query tags, searchable beside the built-in attributes."""
    attributes: dict[str, str] = {}
    options: dict[str, str] = {}
    include: set[str] = set()
    include_all = False
    extended: dict[str, QueryTag] = {}
    ignored: list[str] = []
    for name, value in params:
        option = name.lower()
        if option == "includefield":
            for field in value.split(","):
                if field.strip().lower() == "all":
                    include_all = True
                else:
                    include.add(_includefield_keyword(field.strip(), tags))
        elif option in ("limit", "offset", "fuzzymatching"):
            if option in options:
                raise BadRequest(f"{option} is given more than once")
            options[option] = value
        elif (tag := _extended_tag(name, tags)) is not None:
            _check_searchable(tag, level)
            if tag.name in attributes or tag.name in ignored:
                raise BadRequest(f"{tag.name} is given more than once")
            if tag.query_status is QueryStatus.DISABLED:
                ignored.append(tag.name)
                continue
            extended[tag.name] = tag
            attributes[tag.name] = value
        else:
            keyword = _matching_keyword(name, level)
            if keyword in attributes:
                raise BadRequest(f"{keyword} is given more than once")
            attributes[keyword] = value
    fuzzy = _boolean("fuzzymatching", options.get("fuzzymatching", "false"))
    vrs = {name: tag.vr for name, tag in extended.items()}
    matches = tuple(
        match
        for keyword, value in attributes.items()
        if (match := parse_match(keyword, value, fuzzy=fuzzy, vr=vrs.get(keyword))) is not None
    )
    return SearchQuery(
        level=level,
        study_uid=study_uid,
        series_uid=series_uid,
        matches=matches,
        include=frozenset(include | attributes.keys()),
        include_all=include_all,
        limit=bounded_integer("limit", options.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=bounded_integer("offset", options.get("offset"), 0, 0, MAX_OFFSET),
        extended=tuple(extended.values()),
        ignored=tuple(ignored),
    )


def _extended_tag(name: str, tags: Sequence[QueryTag]) -> QueryTag | None:
    """The registered extended query tag a parameter names, by keyword or by tag."""
    path = tag_path(name) if tags else None
    return None if path is None else find(tags, path)


def _check_searchable(tag: QueryTag, level: Level) -> None:
    """A tag is searched at its level and below (child documents repeat their parents'), and
    once its reindex has brought every stored instance up to it."""
    if tag.status is not TagStatus.READY:
        raise BadRequest(
            f"{tag.label}: the extended query tag is being added; search on it once its "
            "reindex completes"
        )
    if tag.level.query_level.depth > level.depth:
        raise BadRequest(
            f"{tag.label}: a {tag.level.value.lower()}-level extended query tag, not a search "
            f"key at the {level} level"
        )


def _keyword(name: str) -> str | None:
    """The dictionary keyword a parameter names, by keyword or by 8-hex-digit tag."""
    if _TAG.fullmatch(name):
        return keyword_for_tag(int(name, 16)) or None
    return name if tag_for_keyword(name) is not None else None


def _matching_keyword(name: str, level: Level) -> str:
    keyword = _keyword(name)
    if keyword is None:
        raise BadRequest("a query parameter is neither a QIDO-RS parameter nor a DICOM attribute")
    if keyword not in level.matching_keys():
        raise BadRequest(f"{keyword} is not a supported search key at the {level} level")
    return keyword


def _includefield_keyword(field: str, tags: Sequence[QueryTag]) -> str:
    tag = _extended_tag(field, tags)
    if tag is not None:
        return tag.name
    keyword = _keyword(field)
    if keyword is None:
        raise BadRequest("includefield names neither a DICOM attribute keyword nor a tag")
    return keyword


def _boolean(name: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false")
    return value.lower() == "true"


def bounded_integer(name: str, value: str | None, default: int, low: int, high: int) -> int:
    """The integer parameter ``name`` (``default`` when absent), or BadRequest naming it."""
    if value is None:
        return default
    if not _COUNT.fullmatch(value) or not low <= int(value) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(value)


def parse_match(
    keyword: str, value: str, *, fuzzy: bool = False, vr: str | None = None
) -> Match | None:
    """How ``value`` matches ``keyword`` (of ``vr``, by default the dictionary's); None for
    universal matching (no constraint)."""
    vr = vr or dictionary_VR(keyword)
    if value == "" or (set(value) == {"*"} and vr not in ("UI", "DA", "TM", "DT")):
        return None
    if vr == "UI":
        return _uid_list(keyword, value)
    if vr == "DA":
        return _date(keyword, value)
    if vr in _SPANS:
        return _span(keyword, value, vr)
    if vr in _INTEGER_VRS:
        if not _INTEGER.fullmatch(value.strip()):
            raise BadRequest(f"{keyword} must be an integer")
        return ValueMatch(keyword, (int(value),))
    if vr in _DECIMAL_VRS:
        return ValueMatch(keyword, (_decimal(keyword, value),))
    if vr == "PN":
        for group in value.split("="):
            _check_length(keyword, group, vr, PN_GROUP_LENGTH)
        return _person_name(keyword, value, fuzzy=fuzzy)
    if vr in _STRING_VRS:
        _check_length(keyword, value, vr, _STRING_VRS[vr])
        return _string(keyword, value)
    # Reached only if a key of another VR is added to shared.dicom.attributes or query_tags.
    raise BadRequest(f"{keyword} cannot be searched on")


def _decimal(keyword: str, value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise BadRequest(f"{keyword} must be a number")
    return number


def _check_length(keyword: str, value: str, vr: str, limit: int) -> None:
    """A value no stored value of the VR could match is refused; ``*`` may stand for nothing, so
    it does not count."""
    if len(value) - value.count("*") > limit:
        raise BadRequest(f"{keyword}: a {vr} value has at most {limit} characters besides *")


def _string(keyword: str, value: str) -> Match:
    wildcards = sum(value.count(w) for w in WILDCARDS)
    if wildcards > MAX_WILDCARDS:
        raise BadRequest(f"{keyword}: at most {MAX_WILDCARDS} wildcards (* or ?) in a value")
    if wildcards:
        return WildcardMatch(keyword, value)
    return ValueMatch(keyword, (value,))


def _person_name(keyword: str, value: str, *, fuzzy: bool) -> Match | None:
    """A name in several component groups (``Yamada^Tarou=山田^太郎``) spells one name several
    ways, so a stored name matches when any of its groups equals any of the query's."""
    folded = fold_text(value)
    if fuzzy:
        words = tuple(name_words(folded.replace("*", " ").replace("?", " ")))
        return WordPrefixMatch(keyword, words) if words else None
    groups = tuple(g for g in (group.rstrip("^ ") for group in folded.split("=")) if g)
    if len(groups) == 1:
        return _string(keyword, groups[0])
    if WILDCARDS & set(folded):
        raise BadRequest(f"{keyword}: wildcards apply to a name of one component group")
    return ValueMatch(keyword, groups) if groups else None


def _uid_list(keyword: str, value: str) -> ValueMatch:
    uids = tuple(uid.strip() for uid in value.split(","))
    if not all(is_valid_uid(uid) for uid in uids):
        raise BadRequest(f"{keyword} must be a UID or a comma-separated list of UIDs")
    return ValueMatch(keyword, uids)


def _range(keyword: str, value: str, vr: str) -> tuple[str | None, str | None]:
    low, _, high = value.partition("-")
    if not low and not high:
        raise BadRequest(f"{keyword}: a {vr} range needs at least one bound")
    return low.strip() or None, high.strip() or None


def _date(keyword: str, value: str) -> Match:
    if "-" not in value:
        return ValueMatch(keyword, (_checked_date(keyword, value.strip()),))
    low, high = _range(keyword, value, "DA")
    low = None if low is None else _checked_date(keyword, low)
    high = None if high is None else _checked_date(keyword, high)
    if low is not None and high is not None and low > high:
        raise BadRequest(f"{keyword}: the range ends before it starts")
    return RangeMatch(keyword, low, high)


def _checked_date(keyword: str, text: str) -> str:
    try:
        if _DATE.fullmatch(text):
            date(int(text[:4]), int(text[4:6]), int(text[6:]))
            return text
    except ValueError:
        pass
    raise BadRequest(f"{keyword} must be a date (YYYYMMDD) or a range of dates")


_SPANS = {
    "TM": (time_key, "a time (HH[MM[SS[.FFFFFF]]]) or a range of times"),
    "DT": (datetime_key, "a date and time (YYYY[MM[DD[HH[MM[SS[.FFFFFF]]]]]]) or a range of them"),
}


def _span(keyword: str, value: str, vr: str) -> RangeMatch:
    """A single time stands for the span of its precision; a range spans its bounds' spans."""
    if "-" in value:
        low, high = _range(keyword, value, vr)
    else:
        low = high = value.strip()
    low_key = None if low is None else _checked_span(keyword, low, vr, upper=False)
    high_key = None if high is None else _checked_span(keyword, high, vr, upper=True)
    if low_key is not None and high_key is not None and low_key > high_key:
        raise BadRequest(f"{keyword}: the range ends before it starts")
    return RangeMatch(keyword, low_key, high_key)


def _checked_span(keyword: str, text: str, vr: str, *, upper: bool) -> str:
    key_of, form = _SPANS[vr]
    key = key_of(text, upper=upper)
    if key is None:
        raise BadRequest(f"{keyword} must be {form}")
    return key
