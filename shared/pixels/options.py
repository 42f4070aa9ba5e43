"""What a rendered image is asked to be: its media type, quality, viewport and window.

Parsing these from a request is the web protocol's (``shared.web.render_params``); producing the
image is ``shared.pixels.rendering``'s. Both speak these types.
"""

from __future__ import annotations

from dataclasses import dataclass

JPEG = "image/jpeg"
PNG = "image/png"
RENDERED_TYPES = (JPEG, PNG)
"""Best first: image/jpeg is the default for images (PS3.18 Table 8.7.4-1)."""

DEFAULT_QUALITY = 90

# The VOI LUT Function (0028,1056) each ``window`` function names (PS3.3 C.11.2.1.3).
WINDOW_FUNCTIONS = {"linear": "LINEAR", "linear-exact": "LINEAR_EXACT", "sigmoid": "SIGMOID"}


@dataclass(frozen=True)
class Region:
    """The part of the image shown: from (x, y), ``width`` by ``height`` pixels, None meaning "to
    the image's edge". A negative width or height flips the region on that axis."""

    x: int = 0
    y: int = 0
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Viewport:
    """The box the image (or its region) is scaled to fit, keeping its aspect ratio."""

    width: int
    height: int
    region: Region = Region()


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: str
    """A VOI LUT Function term: LINEAR, LINEAR_EXACT or SIGMOID."""


@dataclass(frozen=True)
class RenderParams:
    media_type: str = JPEG
    quality: int = DEFAULT_QUALITY
    viewport: Viewport | None = None
    window: Window | None = None

    @property
    def key(self) -> str:
        """A canonical spelling, so that equal requests share an entity tag."""
        return repr(self)
