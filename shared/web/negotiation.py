"""Content negotiation for retrieve (PS3.18 §8.7): from an Accept header to one rendition.

The Accept header is read into *wishes* (multipart or not, a part media type that may be a
wildcard, a transfer syntax that may be absent or ``*``), best first. Which wish is granted
depends on what is stored, so the resource-specific choosers below take the wishes and the stored
transfer syntax and return the first rendition the service can produce; none is a 406.

Rules the choosers follow:

- ``transfer-syntax=*`` means "as stored", whatever the part media type says: OHIF asks for
  ``type=application/octet-stream; transfer-syntax=*`` and decodes whatever it is given.
- No transfer syntax means the default of the part media type (PS3.18 Table 8.7.3-5):
  Explicit VR Little Endian for ``application/dicom`` and ``application/octet-stream``, JPEG
  Lossless SV1 for ``image/jpeg``, JPEG-LS, JPEG 2000, HTJ2K and RLE lossless for ``image/jls``,
  ``image/jp2``, ``image/jphc`` and ``image/dicom-rle``. A compressed frame is given as stored
  when its media type is the one asked for (``image/jpeg`` for a JPEG Extended frame too).
- Frames as stored cost nothing: when any usable member accepts them they are the answer, even
  if an earlier member would need a conversion.
- Lossy syntaxes are produced only when named: every default is lossless.
- A wildcard part type (``*/*``, as dicomweb-client sends for frames) prefers the stored
  rendition of compressed frames, then uncompressed; for instances it is ``application/dicom``.
- Members that do not parse, that name types retrieve never produces, or that have ``q=0`` are
  passed over; ties in weight keep the client's order.
- ``application/zip`` (Supplement 211) packs a study, series or instance as a zip of Part 10
  files. Without a transfer syntax they are the files as stored (a download of the archive's
  files, the reason to ask for a zip), with one they are converted as multipart parts are. Only
  the type named exactly asks for it: ``application/*`` and ``*/*`` keep meaning DICOM.
- An ``accept`` query parameter (PS3.18 §8.3.3.1) is tried before the Accept header: a link in
  a browser can set the one and not the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.dicom.transfer_syntaxes import (
    AS_STORED,
    EXPLICIT_VR_LITTLE_ENDIAN,
    UNCOMPRESSED_LITTLE_ENDIAN,
)
from shared.errors import BadRequest, NotAcceptable
from shared.web.media_types import MediaType, parse_accept

DICOM = "application/dicom"
ZIP = "application/zip"
ACCEPT_PARAMETER = "accept"
OCTET_STREAM = "application/octet-stream"
MULTIPART = "multipart/related"

# PS3.18 Table 8.7.3-5: the media type of a frame (or pixel bulk data) in each transfer syntax.
_FRAME_MEDIA_TYPES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.100": "video/mpeg",
    "1.2.840.10008.1.2.4.100.1": "video/mpeg",
    "1.2.840.10008.1.2.4.101": "video/mpeg",
    "1.2.840.10008.1.2.4.101.1": "video/mpeg",
    "1.2.840.10008.1.2.4.102": "video/mp4",
    "1.2.840.10008.1.2.4.102.1": "video/mp4",
    "1.2.840.10008.1.2.4.103": "video/mp4",
    "1.2.840.10008.1.2.4.103.1": "video/mp4",
    "1.2.840.10008.1.2.4.104": "video/mp4",
    "1.2.840.10008.1.2.4.104.1": "video/mp4",
    "1.2.840.10008.1.2.4.105": "video/mp4",
    "1.2.840.10008.1.2.4.105.1": "video/mp4",
    "1.2.840.10008.1.2.4.106": "video/mp4",
    "1.2.840.10008.1.2.4.106.1": "video/mp4",
    "1.2.840.10008.1.2.4.107": "video/mp4",
    "1.2.840.10008.1.2.4.108": "video/mp4",
}

# PS3.18 Table 8.7.3-5: the transfer syntax of each frame media type when none is named.
DEFAULT_FRAME_SYNTAXES: dict[str, str] = {
    "image/jpeg": "1.2.840.10008.1.2.4.70",
    "image/jls": "1.2.840.10008.1.2.4.80",
    "image/jp2": "1.2.840.10008.1.2.4.90",
    "image/jpx": "1.2.840.10008.1.2.4.92",
    "image/jphc": "1.2.840.10008.1.2.4.201",
    "image/dicom-rle": "1.2.840.10008.1.2.5",
    OCTET_STREAM: EXPLICIT_VR_LITTLE_ENDIAN,
}

# Media types older clients send for the same thing.
_ALIASES = {"image/x-dicom-rle": "image/dicom-rle", "image/x-jls": "image/jls"}


def frame_media_type(transfer_syntax: str) -> str:
    """The media type of frames in ``transfer_syntax``: octet-stream for every native one."""
    return _FRAME_MEDIA_TYPES.get(transfer_syntax, OCTET_STREAM)


@dataclass(frozen=True)
class Wish:
    """One acceptable answer as the client stated it."""

    multipart: bool
    part_type: MediaType
    """A media range: concrete, or a wildcard such as ``*/*`` or ``image/*``."""
    transfer_syntax: str | None
    """A UID, ``*`` (as stored) or None (the default of the part type)."""


@dataclass(frozen=True)
class Rendition:
    """What the response will be: framing, part media type and transfer syntax."""

    multipart: bool
    media_type: str
    """The part media type, or ``application/zip`` for instances packed in a zip."""
    transfer_syntax: str
    """A UID, or ``*`` for instances each kept in its own stored syntax."""

    @property
    def zipped(self) -> bool:
        return self.media_type == ZIP


def request_wishes(
    header: str | None, parameter: Sequence[str], default_part_type: str
) -> list[Wish]:
    """The wishes of the ``accept`` query parameter, then those of the Accept header
    (PS3.18 §8.7.8.1, as rendered resources read them): the parameter's are tried first, the
    header's when none of those can be produced. A repeated parameter is a 400."""
    if len(parameter) > 1:
        raise BadRequest(f"{ACCEPT_PARAMETER} is given more than once")
    first = wishes(parameter[0], default_part_type) if parameter and parameter[0].strip() else []
    return first + wishes(header, default_part_type)


def wishes(accept: str | None, default_part_type: str) -> list[Wish]:
    """The Accept header's usable members, best first.

    ``default_part_type`` is the part type a ``multipart/related`` without ``type`` means. A
    bare ``*/*`` asks for the standard answer, which is multipart.
    """
    found: list[Wish] = []
    for entry in parse_accept(accept):
        if entry.q <= 0:
            continue
        media_type = entry.media_type
        syntax = media_type.param("transfer-syntax")
        if syntax is not None:
            syntax = syntax.strip()
        try:
            if media_type.type in (MULTIPART, "multipart/*", "*/*"):
                part = media_type.param("type") if media_type.type != "*/*" else None
                part_type = _normalised(part or default_part_type)
                found.append(Wish(True, part_type, syntax))
            else:
                found.append(Wish(False, _normalised(media_type.type), syntax))
        except ValueError:
            continue
    return found


def _normalised(media_range: str) -> MediaType:
    value = media_range.strip().lower()
    return MediaType(_ALIASES.get(value, value))


def _covers(wish: Wish, media_type: str) -> bool:
    return wish.part_type.matches(MediaType(media_type))


def instance_renditions(found: list[Wish], *, single_part: bool) -> list[Rendition]:
    """The renditions of whole instances the client accepts, best first.

    Whether each can be produced depends on every instance's stored syntax, which the caller
    checks; ``single_part`` allows bare ``application/dicom`` (one instance only).
    """
    renditions: list[Rendition] = []
    for wish in found:
        if not wish.multipart and wish.part_type.type == ZIP:
            renditions.append(Rendition(False, ZIP, wish.transfer_syntax or AS_STORED))
            continue
        if not _covers(wish, DICOM) or (not wish.multipart and not single_part):
            continue
        syntax = wish.transfer_syntax or EXPLICIT_VR_LITTLE_ENDIAN
        renditions.append(Rendition(wish.multipart, DICOM, syntax))
    if not renditions:
        raise NotAcceptable(
            f'instances are given as multipart/related; type="{DICOM}" with a transfer-syntax,'
            f" as {ZIP}, or as {DICOM} for one instance; the Accept header allows none of these"
        )
    return renditions


def _never(_syntax: str) -> bool:
    return False


def frame_rendition(
    found: list[Wish],
    stored_syntax: str,
    *,
    single_part: bool,
    can_decode: Callable[[str], bool],
    can_encode: Callable[[str], bool] = _never,
) -> Rendition:
    """How to answer for frames (or pixel bulk data) stored in ``stored_syntax``.

    ``single_part`` allows a bare media type (one frame or one value only); ``can_decode`` says
    whether frames in a syntax can be decompressed here, ``can_encode`` whether these frames can
    be written in a compressed syntax. Frames as stored cost nothing, so any wish that accepts
    them wins over an earlier one that would need a conversion.
    """
    usable = [wish for wish in found if wish.multipart or single_part]
    options = [_frame_options(wish, stored_syntax, can_decode, can_encode) for wish in usable]
    for rendition in (r for wish_options in options for r in wish_options):
        if _costs_nothing(rendition, stored_syntax):
            return rendition
    for wish_options in options:
        if wish_options:
            return wish_options[0]
    raise NotAcceptable(
        "the frames can be given as stored, uncompressed as application/octet-stream, or in a "
        "compressed syntax the service writes; the Accept header allows none of these"
    )


def _costs_nothing(rendition: Rendition, stored_syntax: str) -> bool:
    """Frames sent as their stored bytes: the stored rendition, or little endian native frames."""
    if rendition.transfer_syntax in (stored_syntax, AS_STORED):
        return frame_media_type(stored_syntax) == rendition.media_type
    return (
        stored_syntax in UNCOMPRESSED_LITTLE_ENDIAN
        and rendition.transfer_syntax in UNCOMPRESSED_LITTLE_ENDIAN
    )


def _frame_options(
    wish: Wish,
    stored_syntax: str,
    can_decode: Callable[[str], bool],
    can_encode: Callable[[str], bool],
) -> list[Rendition]:
    stored_type = frame_media_type(stored_syntax)
    encapsulated = stored_type != OCTET_STREAM
    as_stored = Rendition(wish.multipart, stored_type, stored_syntax)
    syntax = wish.transfer_syntax
    if syntax == AS_STORED:
        return [as_stored]
    if syntax is not None:
        produced = _converted(wish, syntax, stored_syntax, can_decode, can_encode)
        return [produced] if produced else []
    options = []
    if encapsulated and _covers(wish, stored_type):
        options.append(as_stored)
    default = _default_syntax(wish.part_type)
    if default is not None:
        produced = _converted(wish, default, stored_syntax, can_decode, can_encode)
        if produced is not None and produced not in options:
            options.append(produced)
    return options


def _default_syntax(part_type: MediaType) -> str | None:
    """The syntax a frame media type means without a transfer-syntax (PS3.18 Table 8.7.3-5).

    ``*/*`` means uncompressed, what every client can read; ``image/*`` only what is stored.
    """
    if part_type.type == "*/*":
        return EXPLICIT_VR_LITTLE_ENDIAN
    return DEFAULT_FRAME_SYNTAXES.get(part_type.type)


def _converted(
    wish: Wish,
    syntax: str,
    stored_syntax: str,
    can_decode: Callable[[str], bool],
    can_encode: Callable[[str], bool],
) -> Rendition | None:
    """Frames in ``syntax`` if the wish's media type covers it and the service can make it."""
    media_type = frame_media_type(syntax)
    encapsulated = frame_media_type(stored_syntax) != OCTET_STREAM
    if not _covers(wish, media_type):
        return None
    if syntax == stored_syntax and encapsulated:
        return Rendition(wish.multipart, media_type, syntax)
    decodable = not encapsulated or can_decode(stored_syntax)
    if syntax in UNCOMPRESSED_LITTLE_ENDIAN and decodable:
        return Rendition(wish.multipart, OCTET_STREAM, syntax)
    if media_type != OCTET_STREAM and decodable and can_encode(syntax):
        return Rendition(wish.multipart, media_type, syntax)
    return None


MAX_FRAMES_PER_REQUEST = 10000

MAX_FRAME_NUMBER = 2**31 - 1
"""NumberOfFrames is an IS (PS3.5 6.2): no instance has a frame beyond this. Checking the digit
count first keeps Python from converting (or refusing to convert) thousands of digits."""


def parse_frame_list(text: str) -> list[int]:
    """A frame list from the path: 1-based numbers, comma-separated, kept in the order given."""
    items = text.split(",")
    if len(items) > MAX_FRAMES_PER_REQUEST:
        raise BadRequest(f"at most {MAX_FRAMES_PER_REQUEST} frames can be asked for at once")
    numbers = []
    for item in items:
        item = item.strip()
        if (
            not (item.isascii() and item.isdigit())
            or len(item) > len(str(MAX_FRAME_NUMBER))
            or not 1 <= int(item) <= MAX_FRAME_NUMBER
        ):
            raise BadRequest(
                f"frame numbers are integers from 1 to {MAX_FRAME_NUMBER} separated by commas"
            )
        numbers.append(int(item))
    return numbers
