"""The indexed form of a person name, for the built-in attributes and extended query tags alike.

``groups`` (the folded component groups) serve exact and wildcard matching, ``words`` fuzzy
(word-prefix) matching; search reaches into them by these names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.dicom.search_forms import name_groups, name_words

NAME_GROUPS = "groups"
NAME_WORDS = "words"


def person_names(values: Iterable[Any]) -> dict[str, list[str]]:
    """The form of a PN element's values (DICOM JSON objects with up to three groups)."""
    groups = [
        group
        for v in values
        if isinstance(v, dict)
        for group in name_groups(
            *(str(v.get(g, "")) for g in ("Alphabetic", "Ideographic", "Phonetic"))
        )
    ]
    return {NAME_GROUPS: groups, NAME_WORDS: [w for g in groups for w in name_words(g)]}
