"""The query parameters of rendered and thumbnail resources (PS3.18 §8.3.5.1) and their media type.

Rendered resources take ``quality``, ``viewport`` (``vw,vh[,sx,sy,sw,sh]``) and ``window``
(``center,width,function``); thumbnails take ``viewport`` as ``vw,vh`` only. Both take ``accept``
(§8.3.3.1), which is tried before the Accept header (§8.7.8.1). Parameter names are
case-sensitive, and names not listed are ignored, as §8.3.5.1 lets an origin server do for
parameters it does not support (``annotation``, ``iccprofile``, ``charset``). A listed parameter
given twice, or with a value that does not parse, is a 400 naming the parameter; messages never
repeat the value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from shared.errors import BadRequest, NotAcceptable
from shared.pixels.options import (
    DEFAULT_QUALITY,
    JPEG,
    PNG,
    RENDERED_TYPES,
    WINDOW_FUNCTIONS,
    Region,
    RenderParams,
    Viewport,
    Window,
)
from shared.web.media_types import AcceptEntry, MediaType, parse_accept
from shared.web.negotiation import wishes

MAX_VIEWPORT = 4096
"""The largest viewport side, in pixels: bigger answers are refused rather than computed."""

THUMBNAIL_SIZE = 128

Query = Iterable[tuple[str, str]]


def rendered_params(query: Query, accept: str | None, *, multipart: bool = False) -> RenderParams:
    """The parameters of a rendered instance or frame, or (``multipart``) study or series."""
    values = _single_values(query, ("accept", "quality", "viewport", "window"))
    choose = rendered_part_type if multipart else rendered_media_type
    return RenderParams(
        media_type=choose(values.get("accept"), accept),
        quality=parse_quality(values["quality"]) if "quality" in values else DEFAULT_QUALITY,
        viewport=parse_viewport(values["viewport"]) if "viewport" in values else None,
        window=parse_window(values["window"]) if "window" in values else None,
    )


def thumbnail_params(query: Query, accept: str | None) -> RenderParams:
    """A thumbnail's parameters; without ``viewport`` it fits ``THUMBNAIL_SIZE`` square."""
    values = _single_values(query, ("accept", "viewport"))
    viewport = Viewport(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    if "viewport" in values:
        viewport = parse_viewport(values["viewport"])
        if viewport.region != Region():
            raise BadRequest("viewport of a thumbnail is vw,vh (no source region)")
    return RenderParams(
        media_type=rendered_media_type(values.get("accept"), accept), viewport=viewport
    )


def is_default_thumbnail(params: RenderParams) -> bool:
    """Whether these are the parameters of the cached thumbnail."""
    return params == RenderParams(viewport=Viewport(THUMBNAIL_SIZE, THUMBNAIL_SIZE))


def _single_values(query: Query, names: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in query:
        if name not in names:
            continue
        if name in found:
            raise BadRequest(f"{name} is given more than once")
        found[name] = value
    return found


def rendered_media_type(accept_param: str | None, accept_header: str | None) -> str:
    """The media type of a rendered answer (PS3.18 §8.7.8.1): the best supported type of the
    ``accept`` parameter, else of the Accept header, else 406."""
    if accept_param is not None:
        chosen = _best(parse_accept(accept_param) if accept_param.strip() else [])
        if chosen is not None:
            return chosen
    chosen = _best(parse_accept(accept_header))
    if chosen is None:
        raise NotAcceptable(f"rendered images are {JPEG} or {PNG}; the request accepts neither")
    return chosen


def rendered_part_type(accept_param: str | None, accept_header: str | None) -> str:
    """The part media type of a rendered study or series, which is multipart (PS3.18 §10.4.4):
    single-part members are passed over, and ``*/*`` (or no header) gives image/jpeg parts."""
    sources = [accept_header] if accept_param is None else [accept_param, accept_header]
    for source in sources:
        for wish in wishes(source, JPEG):
            for candidate in RENDERED_TYPES:
                if wish.multipart and wish.part_type.matches(MediaType(candidate)):
                    return candidate
    raise NotAcceptable(
        f'rendered studies and series are multipart/related; type="{JPEG}" or "{PNG}"; '
        "the request accepts neither"
    )


def _best(entries: list[AcceptEntry]) -> str | None:
    """The first supported type an entry covers, skipping types an entry gives ``q=0``."""
    excluded = {e.media_type.type for e in entries if e.q <= 0}
    for entry in entries:
        if entry.q <= 0:
            continue
        for candidate in RENDERED_TYPES:
            if candidate not in excluded and entry.media_type.matches(MediaType(candidate)):
                return candidate
    return None


def parse_quality(text: str) -> int:
    value = _integer(text, "quality")
    if not 1 <= value <= 100:
        raise BadRequest("quality is an integer from 1 to 100")
    return value


def parse_viewport(text: str) -> Viewport:
    """``vw,vh`` or ``vw,vh,sx,sy,sw,sh``; sx and sy default to 0, sw and sh to the image edge."""
    fields = text.split(",")
    if len(fields) not in (2, 6):
        raise BadRequest("viewport is vw,vh or vw,vh,sx,sy,sw,sh")
    width, height = (_integer(f, "viewport") for f in fields[:2])
    if not (1 <= width <= MAX_VIEWPORT and 1 <= height <= MAX_VIEWPORT):
        raise BadRequest(f"viewport width and height are integers from 1 to {MAX_VIEWPORT}")
    if len(fields) == 2:
        return Viewport(width, height)
    x, y = (_integer(f, "viewport") if f.strip() else 0 for f in fields[2:4])
    sw, sh = (_integer(f, "viewport") if f.strip() else None for f in fields[4:])
    if x < 0 or y < 0:
        raise BadRequest("viewport sx and sy are not negative")
    if sw == 0 or sh == 0:
        raise BadRequest("viewport sw and sh are not zero")
    return Viewport(width, height, Region(x, y, sw, sh))


def parse_window(text: str) -> Window:
    """``center,width,function`` with function ``linear``, ``linear-exact`` or ``sigmoid``."""
    fields = text.split(",")
    if len(fields) != 3:
        raise BadRequest("window is center,width,function")
    center, width = (_number(f, "window") for f in fields[:2])
    function = WINDOW_FUNCTIONS.get(fields[2].strip())
    if function is None:
        raise BadRequest("window function is linear, linear-exact or sigmoid")
    # PS3.3 C.11.2.1.2.1 and C.11.2.1.3: a linear window is at least 1 wide, the others above 0.
    if width < 1 if function == "LINEAR" else width <= 0:
        raise BadRequest("window width is at least 1 (linear) or above 0 (linear-exact, sigmoid)")
    return Window(center, width, function)


def _integer(text: str, name: str) -> int:
    value = text.strip()
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 9:
        raise BadRequest(f"{name} holds a value that is not an integer")
    return int(value)


def _number(text: str, name: str) -> float:
    value = text.strip()
    try:
        number = float(value) if value.isascii() else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or "_" in value:
        raise BadRequest(f"{name} holds a value that is not a decimal number")
    return number
