"""Hypothesis strategies for requests of every kind the service answers, mostly malformed.

A request is drawn against a pool of instances known to be stored, so that retrieves, frames,
renderings and searches reach real data as well as unknown UIDs; stores that succeed add to it.
Header values are any text without line breaks or surrounding whitespace; everything else is free.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field

from hypothesis import strategies as st
from pydicom.datadict import tag_for_keyword

from shared.dicom.attributes import INSTANCE_ATTRIBUTES, SERIES_ATTRIBUTES, STUDY_ATTRIBUTES
from tests.fuzz.corpus import mutated_file, uid

KINDS = ("store", "retrieve", "search", "delete", "export")


@dataclass(frozen=True)
class Request:
    kind: str
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None


@dataclass
class Pool:
    """Instances known to be stored, as (study, series, instance) UIDs."""

    instances: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, instance: tuple[str, str, str]) -> None:
        if instance not in self.instances:
            self.instances.append(instance)


# -- pieces --------------------------------------------------------------------------------------

_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
header_text = st.text(_PRINTABLE, max_size=120)
any_text = st.text(max_size=80)
_DIGITS = st.text("0123456789", min_size=1, max_size=5000)

numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    _DIGITS,
    # Past 4,300 digits Python refuses to convert a text to an integer.
    st.integers(4000, 5000).map(lambda count: "9" * count),
    st.sampled_from(("", " ", "-", "+1", "1e400", "0x10", "1_000", "٣", "NaN", "-0")),
)
"""Texts where a number is expected: huge, negative, fractional, not numbers at all."""

_UID_JUNK = st.one_of(
    st.text("0123456789.", min_size=0, max_size=80),
    _DIGITS,
    any_text,
    st.integers(1, 16).map(lambda serial: uid(serial, "study")),
)
TRANSFER_SYNTAXES = (
    "*",
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
)
_PART_TYPES = (
    "application/dicom",
    "application/octet-stream",
    "application/dicom+json",
    "image/jpeg",
    "image/png",
    "image/jp2",
    "image/jls",
    "image/dicom-rle",
    "image/*",
    "*/*",
    "application/zip",
)


@st.composite
def accept(draw: st.DrawFn) -> str | None:
    """An Accept header: none, one well-formed media range, several, or text."""
    syntax = draw(st.one_of(st.sampled_from(TRANSFER_SYNTAXES), header_text))
    part = draw(st.one_of(st.sampled_from(_PART_TYPES), header_text))
    single = draw(
        st.sampled_from(
            (
                f'multipart/related; type="{part}"; transfer-syntax={syntax}',
                f"multipart/related; type={part}",
                f"{part}; transfer-syntax={syntax}",
                part,
            )
        )
    )
    weighted = f"{single}; q={draw(numbers)}" if draw(st.booleans()) else single
    choice = draw(st.integers(0, 9))
    if choice < 5:
        return None
    if choice < 7:
        return weighted
    if choice < 9:
        return f"{weighted}, {draw(st.sampled_from(_PART_TYPES))}"
    return draw(header_text)


def _headers(**values: str | None) -> tuple[tuple[str, str], ...]:
    """Headers as sent: HTTP clients strip the whitespace around a value and drop empty ones."""
    stripped = {name.replace("_", "-"): (value or "").strip() for name, value in values.items()}
    return tuple((name, value) for name, value in stripped.items() if value)


def _segment(text: str) -> str:
    return urllib.parse.quote(text, safe=".,")


@st.composite
def _target(draw: st.DrawFn, pool: Pool) -> tuple[str, str, str]:
    """UIDs of a stored instance (most of the time), with any of them possibly replaced."""
    if pool.instances and draw(st.integers(0, 3)):
        instance = pool.instances[draw(st.integers(0, 10**6)) % len(pool.instances)]
    else:
        instance = (draw(_UID_JUNK), draw(_UID_JUNK), draw(_UID_JUNK))
    if draw(st.integers(0, 5)) == 0:
        replaced = draw(st.integers(0, 2))
        instance = tuple(
            draw(_UID_JUNK) if index == replaced else value for index, value in enumerate(instance)
        )  # type: ignore[assignment]
    return instance


def _path(version: str, study: str, series: str | None = None, sop: str | None = None) -> str:
    path = f"/{version}/studies/{_segment(study)}"
    if series is not None:
        path += f"/series/{_segment(series)}"
    if sop is not None:
        path += f"/instances/{_segment(sop)}"
    return path


_VERSION = st.sampled_from(("v1", "v2"))


# -- store ---------------------------------------------------------------------------------------

_BOUNDARY = st.one_of(
    st.text(st.sampled_from("abcXYZ0189'()+_,-./:=? "), min_size=1, max_size=90),
    st.just("DICOMwebBoundary"),
)
_PART_HEADERS_OK = "Content-Type: application/dicom"
_PART_HEADERS = st.one_of(
    st.sampled_from(
        (
            "Content-Type: application/dicom",
            "",
            "Content-Type: application/json",
            "Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1",
            "Content-Type application/dicom",
            "Content-Length: 12",
            "Content-Type: application/dicom\r\nContent-Type: image/png",
        )
    ),
    header_text.map(lambda text: f"Content-Type: {text}"),
    header_text,
)


@st.composite
def _part_body(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 5)):
        return draw(mutated_file())[0]
    return draw(st.one_of(st.binary(max_size=300), st.just(b"")))


@st.composite
def _multipart_body(draw: st.DrawFn, boundary: str) -> bytes:
    """A multipart/related body whose framing may be broken in the ways real clients break it."""
    if draw(st.integers(0, 7)) == 0:
        boundary = draw(_BOUNDARY)
    newline = draw(st.sampled_from((b"\r\n", b"\r\n", b"\n")))
    delimiter = b"--" + boundary.encode()
    body = bytearray(draw(st.sampled_from((b"", b"preamble\r\n", b"\r\n"))))
    for part in draw(st.lists(_part_body(), max_size=3)):
        body += delimiter + newline
        header = draw(_PART_HEADERS) if draw(st.integers(0, 3)) == 0 else _PART_HEADERS_OK
        if header:
            body += header.encode() + newline
        body += newline + part + newline
    close = draw(st.sampled_from(("close",) * 5 + ("none", "junk", "unterminated")))
    if close == "close":
        body += delimiter + b"--" + newline
    elif close == "junk":
        body += delimiter + b"--" + draw(st.binary(max_size=40))
    elif close == "unterminated":
        body += delimiter
    return bytes(body)


@st.composite
def _store_content_type(draw: st.DrawFn, boundary: str) -> str | None:
    return draw(
        st.one_of(
            st.sampled_from(
                (
                    f'multipart/related; type="application/dicom"; boundary={boundary}',
                    f'multipart/related; type="application/dicom"; boundary="{boundary}"',
                    f"multipart/related; boundary={boundary}",
                    'multipart/related; type="application/dicom"',
                    f'multipart/related; type="application/json"; boundary={boundary}',
                    f"multipart/related; boundary=x; boundary={boundary}",
                    f'multipart/related; type="application/dicom"; type=x; boundary={boundary}',
                    "application/dicom",
                    "application/dicom; transfer-syntax=1.2.840.10008.1.2.1",
                    "application/octet-stream",
                    "multipart/form-data; boundary=x",
                    "",
                )
            ),
            header_text,
            st.none(),
        )
    )


@st.composite
def store_request(draw: st.DrawFn, pool: Pool) -> Request:
    """A STOW-RS request: damaged files, single part or multipart with odd framing."""
    boundary = draw(_BOUNDARY).strip() or "b"
    if draw(st.booleans()):
        body = draw(_part_body())
        content_type = "application/dicom"
    else:
        body = draw(_multipart_body(boundary))
        content_type = f'multipart/related; type="application/dicom"; boundary="{boundary}"'
    if draw(st.integers(0, 3)) == 0:
        content_type = draw(_store_content_type(boundary))
    version = draw(_VERSION)
    study = None
    if draw(st.integers(0, 3)) == 0:
        study = draw(st.one_of(st.integers(1, 8).map(lambda s: uid(s, "study")), _UID_JUNK))
    path = f"/{version}/studies" if study is None else _path(version, study)
    method = draw(st.sampled_from(("POST", "POST", "PUT")))
    stow_accept = draw(st.one_of(st.none(), st.just("application/dicom+json"), accept()))
    headers = _headers(content_type=content_type, accept=stow_accept)
    return Request("store", method, path, headers=headers, body=body)


# -- retrieve ------------------------------------------------------------------------------------

_FRAME_LIST = st.one_of(
    st.lists(st.integers(-1, 12), min_size=1, max_size=4).map(
        lambda numbers: ",".join(map(str, numbers))
    ),
    st.lists(numbers, min_size=1, max_size=3).map(",".join),
    any_text,
)
_BULK_PATHS = st.one_of(
    st.sampled_from(("7FE00010", "7fe00010", "00081140/0/00081155", "300A0010/0/300A0012")),
    st.text("0123456789ABCDEF/", max_size=40),
    any_text,
)
_RENDER_NAMES = ("quality", "viewport", "window", "accept", "annotation", "charset")


@st.composite
def _render_value(draw: st.DrawFn) -> str:
    fields = draw(st.lists(numbers, min_size=1, max_size=7))
    if draw(st.booleans()):
        fields[-1] = draw(st.sampled_from(("linear", "linear-exact", "sigmoid", "LINEAR", "")))
    return draw(st.one_of(st.just(",".join(fields)), numbers, any_text))


@st.composite
def retrieve_request(draw: st.DrawFn, pool: Pool) -> Request:
    """WADO-RS and its rendered and thumbnail resources, at every level."""
    study, series, sop = draw(_target(pool))
    version = draw(_VERSION)
    level = draw(st.sampled_from(("study", "series", "instance", "instance", "instance")))
    if level == "study":
        base = _path(version, study)
    elif level == "series":
        base = _path(version, study, series)
    else:
        base = _path(version, study, series, sop)
    suffixes = ["", "/metadata", "/rendered", "/thumbnail"]
    if level == "instance":
        frames = _segment(draw(_FRAME_LIST))
        suffixes += [f"/frames/{frames}", f"/frames/{frames}/rendered"]
        suffixes += [f"/frames/{frames}/thumbnail", f"/bulkdata/{_segment(draw(_BULK_PATHS))}"]
    path = base + draw(st.sampled_from(suffixes))
    names = st.one_of(st.sampled_from(_RENDER_NAMES), any_text)
    params = tuple(draw(st.lists(st.tuples(names, _render_value()), max_size=3)))
    byte_range = draw(st.one_of(st.none(), numbers.map(lambda n: f"bytes={n}-"), header_text))
    headers = _headers(
        accept=draw(accept()),
        range=byte_range,
        if_none_match=draw(st.one_of(st.none(), header_text)),
    )
    method = draw(st.sampled_from(("GET",) * 7 + ("HEAD", "POST", "PUT")))
    return Request("retrieve", method, path, params, headers)


# -- search --------------------------------------------------------------------------------------

_SEARCHABLE = (*STUDY_ATTRIBUTES, *SERIES_ATTRIBUTES, *INSTANCE_ATTRIBUTES)
_QIDO_NAMES = ("limit", "offset", "fuzzymatching", "includefield")
_OTHER_KEYWORDS = ("PixelData", "ImageComments", "ReferencedImageSequence", "BitsAllocated")


def _tag_text(keyword: str) -> str:
    return f"{tag_for_keyword(keyword):08X}"


_SEARCH_NAMES = st.one_of(
    st.sampled_from(_QIDO_NAMES + _SEARCHABLE + _OTHER_KEYWORDS),
    st.sampled_from(_SEARCHABLE + _OTHER_KEYWORDS).map(_tag_text),
    st.text("0123456789ABCDEFabcdef.", min_size=1, max_size=20),
    any_text,
)
_SEARCH_VALUES = st.one_of(
    any_text,
    numbers,
    st.text("0123456789-*?,.\\^= ", max_size=40),
    st.lists(_UID_JUNK, min_size=1, max_size=4).map(",".join),
    st.lists(_UID_JUNK, min_size=1, max_size=4).map("\\".join),
    st.sampled_from(("", "*", "?", "-", "true", "false", "all", "19000101-", "-20991231")),
).map(str)


@st.composite
def search_request(draw: st.DrawFn, pool: Pool) -> Request:
    """QIDO-RS at each level, with generated parameter names and values."""
    study, series, _ = draw(_target(pool))
    version = draw(_VERSION)
    path = draw(
        st.sampled_from(
            (
                f"/{version}/studies",
                f"/{version}/series",
                f"/{version}/instances",
                f"{_path(version, study)}/series",
                f"{_path(version, study)}/instances",
                f"{_path(version, study, series)}/instances",
            )
        )
    )
    params = tuple(draw(st.lists(st.tuples(_SEARCH_NAMES, _SEARCH_VALUES), max_size=6)))
    search_accept = draw(st.one_of(st.none(), st.just("application/dicom+json"), accept()))
    return Request("search", "GET", path, params, _headers(accept=search_accept))


# -- delete --------------------------------------------------------------------------------------


@st.composite
def delete_request(draw: st.DrawFn, pool: Pool) -> Request:
    """DELETE at each level; UIDs are junk, unknown, or those the damaged stores used."""
    serial = draw(st.integers(1, 8))
    study = draw(st.one_of(st.just(uid(serial, "study")), _UID_JUNK))
    series = draw(st.one_of(st.just(uid(serial, "series")), _UID_JUNK))
    sop = draw(st.one_of(st.just(uid(serial, "sop")), _UID_JUNK))
    version = draw(_VERSION)
    path = draw(
        st.sampled_from(
            (
                _path(version, study),
                _path(version, study, series),
                _path(version, study, series, sop),
            )
        )
    )
    return Request("delete", "DELETE", path)


# -- export --------------------------------------------------------------------------------------

_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_DESTINATIONS = st.one_of(
    # The emulator's account: containers that do not exist; other hosts and accounts, refused
    # before any connection is made.
    st.sampled_from(
        (
            "http://127.0.0.1:10000/devstoreaccount1/missing",
            "http://127.0.0.1:9/devstoreaccount1/export",
            "http://127.0.0.1:10000/otheraccount/export",
            "https://collector.example.com/export",
        )
    ),
    any_text,
    _JSON,
)


@st.composite
def export_request(draw: st.DrawFn, pool: Pool) -> Request:
    """POST /export: JSON of any shape, Azure's shape with junk in it, or bytes not JSON."""
    study, series, sop = draw(_target(pool))
    identifiers = st.sampled_from((study, f"{study}/{series}", f"{study}/{series}/{sop}"))
    values = draw(st.one_of(st.lists(st.one_of(identifiers, _UID_JUNK), max_size=4), _JSON))
    shaped = {
        "source": {
            "type": draw(st.sampled_from(("identifiers", "query"))),
            "settings": {"values": values},
        },
        "destination": {
            "type": draw(st.sampled_from(("azureblob", "AzureBlob", "other"))),
            "settings": {"blobContainerUri": draw(_DESTINATIONS)},
        },
    }
    body = draw(
        st.one_of(
            st.just(json.dumps(shaped).encode()),
            _JSON.map(lambda value: json.dumps(value).encode()),
            st.binary(max_size=200),
        )
    )
    content_type = draw(
        st.sampled_from(("application/json", "application/json; charset=utf-8", "text/plain", None))
    )
    return Request(
        "export",
        "POST",
        f"/{draw(_VERSION)}/export",
        headers=_headers(content_type=content_type),
        body=body,
    )


STRATEGIES = {
    "store": store_request,
    "retrieve": retrieve_request,
    "search": search_request,
    "delete": delete_request,
    "export": export_request,
}
