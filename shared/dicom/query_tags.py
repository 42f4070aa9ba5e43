"""Extended query tags: attributes the archive's owner adds to search, and the rules for adding.

A tag is named by its path (8 hex digits, or a dictionary keyword, as the Azure DICOM service
takes it), has a VR from Azure's list, and a level (study, series or instance) whose documents
hold its values. A private tag is registered with its private creator, and its values are only
indexed from instances whose private block for that element belongs to that creator.

Each registration has a generation (a time-ordered version id, given when it is added): its
values are stored under ``key``, which includes it, so a tag deleted and added again never reads
what its earlier registration left in the index.

Refusals name the tag and the rule, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from shared.dicom.attributes import (
    COMPUTED_ATTRIBUTES,
    INSTANCE_MATCHING_KEYS,
    SERIES_MATCHING_KEYS,
    STUDY_MATCHING_KEYS,
)
from shared.dicom.query_levels import Level
from shared.errors import BadRequest, Conflict

SUPPORTED_VRS = frozenset(
    {
        "AE",
        "AS",
        "CS",
        "DA",
        "DS",
        "DT",
        "FD",
        "FL",
        "IS",
        "LO",
        "PN",
        "SH",
        "SL",
        "SS",
        "TM",
        "UI",
        "UL",
        "US",
    }
)
"""The VRs the Azure DICOM service indexes for extended query tags."""

MAX_QUERY_TAGS = 128
"""How many extended query tags an archive may have, as in the Azure DICOM service."""

MAX_PRIVATE_CREATOR = 64
"""A private creator is an LO value (PS3.5 7.8.1)."""

_HEX_PATH = re.compile(r"[0-9A-Fa-f]{8}")
_ALREADY_SEARCHABLE = frozenset(
    (*STUDY_MATCHING_KEYS, *SERIES_MATCHING_KEYS, *INSTANCE_MATCHING_KEYS, *COMPUTED_ATTRIBUTES)
)
_RESERVED_GROUPS = frozenset({0x0000, 0x0002, 0x0004, 0xFFFA, 0xFFFC, 0xFFFE})
"""Command, file meta, directory and item delimitation groups: not attributes of an instance."""


class TagLevel(StrEnum):
    """The level whose documents hold a tag's values; searchable there and below."""

    STUDY = "Study"
    SERIES = "Series"
    INSTANCE = "Instance"

    @property
    def query_level(self) -> Level:
        return Level(self.value.lower())


class TagStatus(StrEnum):
    """A tag's state, as Azure names them. Deleting a tag is one registry write here, so Azure's
    third state, ``Deleting`` (while it removes the values), never arises."""

    ADDING = "Adding"
    READY = "Ready"


class QueryStatus(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"


@dataclass(frozen=True)
class QueryTag:
    """One registered extended query tag."""

    path: str
    """The tag as 8 uppercase hex digits, e.g. ``00101010``."""
    vr: str
    level: TagLevel
    generation: str
    """The version id of this registration (see the module's docstring)."""
    private_creator: str | None = None
    status: TagStatus = TagStatus.ADDING
    query_status: QueryStatus = QueryStatus.ENABLED
    operation_id: str | None = None
    """The reindex operation that brings stored instances up to this tag, while it runs."""

    @property
    def key(self) -> str:
        """Where the index stores this registration's values: a name of letters and digits."""
        return f"t{self.path}{self.generation}"

    @property
    def tag(self) -> int:
        return int(self.path, 16)

    @property
    def keyword(self) -> str | None:
        return None if self.private_creator else (keyword_for_tag(self.tag) or None)

    @property
    def name(self) -> str:
        """How responses and messages name the tag: its keyword, or its path."""
        return self.keyword or self.path

    @property
    def label(self) -> str:
        """``(gggg,eeee) Keyword`` for messages."""
        text = f"({self.path[:4]},{self.path[4:]})"
        return f"{text} {self.keyword}" if self.keyword else text

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "vr": self.vr,
            "level": self.level.value,
            "generation": self.generation,
            "privateCreator": self.private_creator,
            "status": self.status.value,
            "queryStatus": self.query_status.value,
            "operationId": self.operation_id,
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> QueryTag:
        return cls(
            path=str(body["path"]),
            vr=str(body["vr"]),
            level=TagLevel(body["level"]),
            generation=str(body["generation"]),
            private_creator=body.get("privateCreator"),
            status=TagStatus(body["status"]),
            query_status=QueryStatus(body["queryStatus"]),
            operation_id=body.get("operationId"),
        )


def tag_path(text: str) -> str | None:
    """The 8-hex-digit path that ``text`` names, by tag or by dictionary keyword; None if
    neither."""
    if _HEX_PATH.fullmatch(text):
        return text.upper()
    tag = tag_for_keyword(text)
    return None if tag is None else f"{tag:08X}"


def parse_tag_path(text: str) -> str:
    """The path a tagPath names, or BadRequest."""
    path = tag_path(text)
    if path is None:
        raise BadRequest("the tag path is neither 8 hex digits nor a DICOM keyword")
    return path


def find(tags: Iterable[QueryTag], path: str) -> QueryTag | None:
    return next((t for t in tags if t.path == path), None)


def _label(path: str) -> str:
    keyword = keyword_for_tag(int(path, 16))
    text = f"({path[:4]},{path[4:]})"
    return f"{text} {keyword}" if keyword else text


def _field(entry: Mapping[str, Any], name: str) -> Any:
    """A member of an entry, its name in any case (as the Azure service binds JSON)."""
    return next((v for k, v in entry.items() if k.lower() == name.lower()), None)


def _text_field(entry: Mapping[str, Any], name: str, where: str) -> str | None:
    value = _field(entry, name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{where}: {name} must be a string")
    return value


def new_tag(entry: Any, generation: str, operation_id: str) -> QueryTag:
    """One entry of a POST body as a registration, or BadRequest naming what is wrong."""
    if not isinstance(entry, dict):
        raise BadRequest("each extended query tag must be a JSON object")
    path_text = _text_field(entry, "Path", "an extended query tag")
    if path_text is None:
        raise BadRequest("an extended query tag has no Path")
    path = tag_path(path_text)
    if path is None:
        raise BadRequest("an extended query tag's Path is neither 8 hex digits nor a DICOM keyword")
    where = _label(path)
    level_text = _text_field(entry, "Level", where)
    levels = {level.value.lower(): level for level in TagLevel}
    if level_text is None or level_text.lower() not in levels:
        raise BadRequest(f"{where}: Level must be Study, Series or Instance")
    vr_text = _text_field(entry, "VR", where)
    creator = _text_field(entry, "PrivateCreator", where)
    tag = int(path, 16)
    group, element = tag >> 16, tag & 0xFFFF
    if group in _RESERVED_GROUPS or element == 0:
        raise BadRequest(
            f"{where}: not an attribute of an instance (group length, command, file "
            "meta or delimitation)"
        )
    if group % 2:
        vr = _private_vr(where, element, vr_text, creator)
    else:
        vr = _standard_vr(where, tag, vr_text, creator)
    return QueryTag(
        path=path,
        vr=vr,
        level=levels[level_text.lower()],
        generation=generation,
        private_creator=creator,
        operation_id=operation_id,
    )


def _supported(where: str, vr: str) -> str:
    if vr == "SQ":
        raise BadRequest(f"{where}: sequences (VR SQ) cannot be extended query tags")
    if vr not in SUPPORTED_VRS:
        raise BadRequest(
            f"{where}: VR {vr} is not supported; supported: {', '.join(sorted(SUPPORTED_VRS))}"
        )
    return vr


def _private_vr(where: str, element: int, vr: str | None, creator: str | None) -> str:
    if element <= 0x00FF:
        raise BadRequest(f"{where}: a private creator or reserved element, not a private attribute")
    if creator is None:
        raise BadRequest(f"{where}: a private tag needs its PrivateCreator")
    if len(creator) > MAX_PRIVATE_CREATOR or "\\" in creator or not creator.isprintable():
        raise BadRequest(
            f"{where}: PrivateCreator must be an LO value (at most {MAX_PRIVATE_CREATOR} "
            "printable characters, no backslash)"
        )
    if vr is None:
        raise BadRequest(f"{where}: a private tag needs its VR")
    return _supported(where, vr.upper())


def _standard_vr(where: str, tag: int, vr: str | None, creator: str | None) -> str:
    if creator is not None:
        raise BadRequest(f"{where}: PrivateCreator is only for private tags")
    keyword = keyword_for_tag(tag)
    if not keyword:
        raise BadRequest(f"{where}: not in the DICOM dictionary")
    if keyword in _ALREADY_SEARCHABLE:
        raise BadRequest(f"{where}: already a search key; it needs no extended query tag")
    allowed = [v.strip() for v in dictionary_VR(tag).split(" or ")]
    if vr is None:
        if len(allowed) > 1:
            raise BadRequest(f"{where}: the dictionary allows VRs {', '.join(allowed)}: give VR")
        return _supported(where, allowed[0])
    if vr.upper() not in allowed:
        raise BadRequest(f"{where}: VR {vr.upper()} is not the dictionary's ({', '.join(allowed)})")
    return _supported(where, vr.upper())


def new_tags(
    body: Any, registered: Sequence[QueryTag], generation: str, operation_id: str
) -> list[QueryTag]:
    """The registrations a POST body asks for, checked against each other and ``registered``.

    BadRequest for any invalid entry or when the cap would be passed; Conflict when a tag is
    already registered (as the Azure DICOM service answers).
    """
    if not isinstance(body, list) or not body:
        raise BadRequest("the body must be a non-empty JSON array of extended query tags")
    tags = [new_tag(entry, generation, operation_id) for entry in body]
    seen: set[str] = set()
    for tag in tags:
        if tag.path in seen:
            raise BadRequest(f"{tag.label}: given more than once")
        seen.add(tag.path)
        if find(registered, tag.path) is not None:
            raise Conflict(f"{tag.label}: already an extended query tag")
    if len(registered) + len(tags) > MAX_QUERY_TAGS:
        raise BadRequest(
            f"at most {MAX_QUERY_TAGS} extended query tags; {len(registered)} are registered"
        )
    return tags


def with_query_status(tag: QueryTag, body: Any) -> QueryTag:
    """A PATCH body (``{"QueryStatus": "Enabled" | "Disabled"}``) applied to ``tag``."""
    if not isinstance(body, dict) or set(k.lower() for k in body) != {"querystatus"}:
        raise BadRequest('the body must be {"QueryStatus": "Enabled" or "Disabled"}')
    value = _field(body, "QueryStatus")
    statuses = {s.value.lower(): s for s in QueryStatus}
    if not isinstance(value, str) or value.lower() not in statuses:
        raise BadRequest("QueryStatus must be Enabled or Disabled")
    return replace(tag, query_status=statuses[value.lower()])
