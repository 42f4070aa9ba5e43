"""The normalised forms that the index stores and that queries compare against.

Index documents and query values go through the same functions, so a value matches itself
whatever its case, accents, Unicode composition or time precision.
"""

from __future__ import annotations

import re
import unicodedata

_KANA_MARKS = frozenset("\u3099\u309a")
# Latin letters whose stroke is part of the letter in Unicode, not a combining accent.
_STROKES = str.maketrans({"ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ŧ": "t"})
_WORD_SEPARATORS = re.compile(r"[\s^=,]+")
_DATETIME = re.compile(
    r"([0-9]{4})(?:(0[1-9]|1[0-2])(?:(0[1-9]|[12][0-9]|3[01])"
    r"(?:([01][0-9]|2[0-3])(?:([0-5][0-9])(?:([0-5][0-9]|60)(?:\.([0-9]{1,6}))?)?)?)?)?)?"
    r"(?:[+-](?:[01][0-9]|2[0-3])[0-5][0-9])?"
)
_TIME = re.compile(r"([01][0-9]|2[0-3])(?:([0-5][0-9])(?:([0-5][0-9]|60)(?:\.([0-9]{1,6}))?)?)?")


def fold_text(text: str) -> str:
    """Case- and accent-insensitive form of a name: what person-name matching compares.

    NFKD also unifies full- and half-width forms, so Japanese names typed either way match. The
    kana voicing marks are combining characters too, but they change the sound (た, だ), so they
    are kept and recomposed. Letters with a stroke (ø, ł) have no decomposition and are mapped to
    their base letter.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c) or c in _KANA_MARKS)
    return unicodedata.normalize("NFC", kept).casefold().translate(_STROKES)


def name_groups(alphabetic: str, ideographic: str, phonetic: str) -> list[str]:
    """The folded, non-empty component groups of one person name, each compared on its own.

    A query in kanji matches the ideographic group and one in romaji the alphabetic group;
    trailing empty components (``Doe^John^^``) do not count.
    """
    groups = (fold_text(g).rstrip("^ ") for g in (alphabetic, ideographic, phonetic))
    return [g for g in groups if g]


def name_words(text: str) -> list[str]:
    """The words of a folded name or query, which fuzzy matching compares by prefix."""
    return [w for w in _WORD_SEPARATORS.split(text) if w]


def time_key(text: str, *, upper: bool = False) -> str | None:
    """A TM value as ``HHMMSS.FFFFFF``, so that string order is time order.

    A value given to a lower precision stands for the whole span it names: ``upper`` gives the
    end of that span (``1230`` is 12:30:59.999999) and otherwise its start. None if ``text`` is
    not a TM value.
    """
    match = _TIME.fullmatch(text.strip())
    if match is None:
        return None
    hours, minutes, seconds, fraction = match.groups()
    fill = "9" if upper else "0"
    minutes = minutes or ("59" if upper else "00")
    if seconds is None:
        seconds, fraction = ("59" if upper else "00"), ""
    return f"{hours}{minutes}{seconds}.{(fraction or '').ljust(6, fill)}"


def datetime_key(text: str, *, upper: bool = False) -> str | None:
    """A DT value as ``YYYYMMDDHHMMSS.FFFFFF``, so that string order is time order.

    As for ``time_key``, a value of lower precision stands for the span it names (``upper``: its
    end). A UTC offset is dropped: values compare as written, in the time of whoever wrote them.
    None if ``text`` is not a DT value.
    """
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        return None
    year, *parts, fraction = match.groups()
    fills = ("12", "31", "23", "59", "59") if upper else ("01", "01", "00", "00", "00")
    filled = "".join(part or fill for part, fill in zip(parts, fills, strict=True))
    digits = (fraction or "") if parts[-1] else ""
    return f"{year}{filled}.{digits.ljust(6, '9' if upper else '0')}"
