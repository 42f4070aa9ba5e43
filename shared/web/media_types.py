"""Media types and Accept headers (RFC 9110 §8.3.1 and §12.5.1), read as real clients write them.

DICOMweb clients put slashes and asterisks in unquoted parameter values (``type=application/dicom``,
``transfer-syntax=*``), so unquoted values are read up to the next ``;`` or whitespace rather than
as strict tokens. Error messages never repeat the header value, which is request data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from shared.errors import NotAcceptable

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
_TYPE_RE = re.compile(rf"{_TOKEN}/{_TOKEN}")
_SEPARATORS_RE = re.compile(r"[ \t;]*")
_OWS_RE = re.compile(r"[ \t]*")
_PARAM_NAME_RE = re.compile(rf"({_TOKEN})[ \t]*=[ \t]*")
_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
_UNQUOTED_RE = re.compile(r'[^\s;"\x00-\x1f\x7f]*')
# A value may hold any character a quoted-string can carry: every control but HTAB is out.
_FORBIDDEN_IN_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_ESCAPED_RE = re.compile(r'(["\\])')
# One Accept member: a run of non-comma text whose quoted strings may hold commas. An unterminated
# quote runs to the end, so the member fails to parse instead of swallowing its neighbours' commas.
_ACCEPT_MEMBER_RE = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*(?:"|\Z))+', re.DOTALL)
_QVALUE_RE = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


@dataclass(frozen=True)
class MediaType:
    """A parsed media type or media range; type and parameter names compare case-insensitively.

    Both are stored lower-cased so that plain ``==`` and dictionary look-ups are the comparison
    RFC 9110 asks for. Parameter values keep their case: some (``boundary``) are case-sensitive.
    """

    type: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not _TYPE_RE.fullmatch(self.type):
            raise ValueError("a media type must be two tokens joined by '/'")
        params: dict[str, str] = {}
        for name, value in self.params.items():
            if not _TOKEN_RE.fullmatch(name):
                raise ValueError("a media type parameter name must be a token")
            if _FORBIDDEN_IN_VALUE_RE.search(value):
                raise ValueError("a media type parameter value must not hold control characters")
            if name.lower() in params:
                raise ValueError("a media type parameter is repeated")
            params[name.lower()] = value
        object.__setattr__(self, "type", self.type.lower())
        object.__setattr__(self, "params", MappingProxyType(params))

    def param(self, name: str) -> str | None:
        """The value of a parameter, looked up case-insensitively as its name is."""
        return self.params.get(name.lower())

    def matches(self, concrete: MediaType) -> bool:
        """Whether this range (``*/*``, ``image/*`` or exact) covers the type of ``concrete``.

        Parameters are left to the caller: which of them matter depends on the media type.
        """
        if self.type == "*/*":
            return True
        main, _, sub = self.type.partition("/")
        return concrete.type == self.type or (sub == "*" and concrete.type.startswith(main + "/"))

    def __str__(self) -> str:
        return self.type + "".join(
            f"; {name}={_render(value)}" for name, value in self.params.items()
        )


def _render(value: str) -> str:
    """A token as it is; anything else as a quoted-string, so that it parses back unchanged."""
    if _TOKEN_RE.fullmatch(value):
        return value
    return '"' + _ESCAPED_RE.sub(r"\\\1", value) + '"'


def parse_media_type(value: str) -> MediaType:
    """Parse a Content-Type style value; raise ValueError when it is not one.

    Parameters may come quoted or not, in any order, with empty ``;;`` members and a trailing
    ``;``. A repeated parameter is an error rather than first- or last-wins, because two readers of
    the same header disagreeing on, say, the boundary is how request smuggling starts.
    """
    media_type, pairs = split_media_type(value)
    params: dict[str, str] = {}
    for name, param_value in pairs:
        if name in params:
            raise ValueError("a media type parameter is repeated")
        params[name] = param_value
    return MediaType(media_type, params)


def split_media_type(value: str) -> tuple[str, list[tuple[str, str]]]:
    """The type and every parameter in order, repeats kept, for callers that resolve them."""
    head, _, rest = value.partition(";")
    media_type = head.strip(" \t")
    if not media_type:
        raise ValueError("the media type is empty")
    if not _TYPE_RE.fullmatch(media_type):
        raise ValueError("the media type is not of the form type/subtype")
    pairs: list[tuple[str, str]] = []
    pos = 0
    while True:
        pos = _end_of(_SEPARATORS_RE, rest, pos)
        if pos == len(rest):
            break
        name_match = _PARAM_NAME_RE.match(rest, pos)
        if name_match is None:
            raise ValueError("a media type parameter is not of the form name=value")
        name = name_match.group(1).lower()
        pos = name_match.end()
        quoted = _QUOTED_RE.match(rest, pos)
        if quoted is not None:
            param_value = _QUOTED_PAIR_RE.sub(r"\1", quoted.group(1))
            pos = quoted.end()
        elif rest.startswith('"', pos):
            raise ValueError("a quoted media type parameter value is not closed")
        else:
            end = _end_of(_UNQUOTED_RE, rest, pos)
            param_value, pos = rest[pos:end], end
        pos = _end_of(_OWS_RE, rest, pos)
        if pos < len(rest) and rest[pos] != ";":
            raise ValueError("unexpected text after a media type parameter value")
        pairs.append((name, param_value))
    return media_type.lower(), pairs


def _end_of(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a run of ``pattern`` starting at ``pos`` ends; the patterns given match empty runs."""
    match = pattern.match(text, pos)
    assert match is not None
    return match.end()


@dataclass(frozen=True)
class AcceptEntry:
    """One media range of an Accept header and its weight; ``q == 0`` means "not acceptable"."""

    media_type: MediaType
    q: float = 1.0


def parse_accept(value: str | None) -> list[AcceptEntry]:
    """The members of an Accept header, highest weight first, ties in the order the client sent.

    A missing or blank header accepts anything (``*/*``). Members that do not parse, or whose
    ``q`` is not a number from 0 to 1, are dropped: a client's typo in one member should not cost
    it the others. Members with ``q=0`` are kept (last, by the sort) because they are exclusions:
    ``image/*, image/png;q=0`` rules out PNG, which dropping the member would let back in. So a
    caller picking a type must skip entries whose ``q`` is 0. Which of several matching ranges is
    the most specific is also left to the caller; the weight is never part of ``media_type``.
    """
    if value is None or not value.strip(" \t"):
        return [AcceptEntry(MediaType("*/*"))]
    entries: list[AcceptEntry] = []
    for member in _ACCEPT_MEMBER_RE.finditer(value):
        entry = _accept_entry(member.group())
        if entry is not None:
            entries.append(entry)
    entries.sort(key=lambda entry: -entry.q)
    return entries


def _accept_entry(member: str) -> AcceptEntry | None:
    if not member.strip(" \t"):
        return None
    try:
        media_type = parse_media_type(member)
    except ValueError:
        return None
    params = dict(media_type.params)
    weight = params.pop("q", None)
    if weight is None:
        return AcceptEntry(media_type)
    if not _QVALUE_RE.fullmatch(weight) or float(weight) > 1:
        return None
    return AcceptEntry(MediaType(media_type.type, params), float(weight))


DICOM_JSON = "application/dicom+json"
_JSON_TYPES = (MediaType(DICOM_JSON), MediaType("application/json"))


def require_dicom_json(accept: str | None, content: str) -> None:
    """Refuse (406) an Accept header that rules out DICOM JSON, which is plain JSON too.

    Store responses, metadata and search results are all DICOM JSON; ``content`` names which
    one, for the message.
    """
    for entry in parse_accept(accept):
        if entry.q > 0 and any(entry.media_type.matches(t) for t in _JSON_TYPES):
            return
    raise NotAcceptable(f"{content} is {DICOM_JSON}; the Accept header excludes it")
