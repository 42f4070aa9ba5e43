"""From one decoded frame to a JPEG or PNG image (PS3.18 §8.3.5.1, PS3.4 N.2).

The grayscale pipeline is the standard's: Modality LUT (or Rescale Slope and Intercept), then the
VOI transformation, then the presentation polarity (MONOCHROME1 is inverted). The VOI step uses,
in this order, the ``window`` parameter, the instance's VOI LUT Sequence, its first Window Center
and Width (with its VOI LUT Function), and else the frame's own minimum and maximum. Colour
frames are turned into RGB: YBR by colour-space conversion, PALETTE COLOR through its lookup
tables. Rendered images have 8 bits per channel (PS3.18 §8.7.4). The source region and viewport
come last: the region is cut (and flipped when its width or height is negative), then scaled to
fit the viewport with its aspect ratio kept.

Every step but the last two is pydicom's (``pydicom.pixels``), so the arithmetic is the one
pydicom's users rely on; this module only chooses the steps and maps their output to 8 bits.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydicom import Dataset
from pydicom.pixels.processing import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    apply_windowing,
    convert_color_space,
)

from shared.errors import BadRequest, NotAcceptable
from shared.pixels.options import JPEG, WINDOW_FUNCTIONS, RenderParams, Viewport, Window

GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
CONVERTED_TO_RGB = ("YBR_FULL", "YBR_FULL_422")
"""The YBR forms pydicom converts; JPEG 2000 decoders give YBR_ICT and YBR_RCT as RGB already."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its pixels, the photometric interpretation they are in (a decoder may
    have turned YBR into RGB already), and the attributes that say how to display them."""

    pixels: np.ndarray
    photometric: str
    attributes: Dataset


def render(frame: Frame, params: RenderParams) -> bytes:
    """``frame`` as an image of ``params``."""
    grey_or_rgb = display_values(frame.pixels, frame.photometric, frame.attributes, params.window)
    image = Image.fromarray(grey_or_rgb)
    if params.viewport is not None:
        image = fit(image, params.viewport)
    out = io.BytesIO()
    if params.media_type == JPEG:
        image.save(out, format="JPEG", quality=params.quality)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def display_values(
    pixels: np.ndarray, photometric: str, attributes: Dataset, window: Window | None
) -> np.ndarray:
    """8-bit grey (rows, columns) or RGB (rows, columns, 3) values, ready to encode."""
    if photometric in GRAYSCALE:
        grey = _voi(apply_modality_lut(pixels, attributes), attributes, window)
        if photometric == "MONOCHROME1":
            grey = 255.0 - grey
        return np.asarray(np.rint(grey), dtype=np.uint8)
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(pixels, attributes)[..., :3]  # an alpha table is not shown
        return _to_8_bits(rgb, 8 * rgb.dtype.itemsize)
    if photometric in CONVERTED_TO_RGB:
        pixels = convert_color_space(pixels, photometric, "RGB")
    elif photometric != "RGB":
        raise NotAcceptable("frames of this photometric interpretation cannot be rendered")
    return _to_8_bits(pixels, int(attributes.get("BitsStored") or 8))


def _voi(values: np.ndarray, attributes: Dataset, window: Window | None) -> np.ndarray:
    """VOI-transformed values scaled to 0-255, as floats."""
    if window is not None:
        return _windowed(values, window)
    if attributes.get("VOILUTSequence"):
        bits = int(attributes.VOILUTSequence[0].LUTDescriptor[2])
        lut_output = np.asarray(apply_voi_lut(values, attributes), dtype=np.float64)
        scaled: np.ndarray = lut_output * (255.0 / (2**bits - 1))
        return scaled
    stored = _stored_window(attributes)
    if stored is not None:
        return _windowed(values, stored)
    low, high = float(np.min(values)), float(np.max(values))
    if high <= low:
        return np.zeros(values.shape, dtype=np.float64)
    return (values.astype(np.float64) - low) * (255.0 / (high - low))


def _stored_window(attributes: Dataset) -> Window | None:
    """The instance's first window, when it has a usable one."""
    center, width = attributes.get("WindowCenter"), attributes.get("WindowWidth")
    if center is None or width is None:
        return None
    center = center[0] if attributes["WindowCenter"].VM > 1 else center
    width = width[0] if attributes["WindowWidth"].VM > 1 else width
    function = str(attributes.get("VOILUTFunction") or "LINEAR").strip().upper()
    if function not in WINDOW_FUNCTIONS.values():
        function = "LINEAR"
    # The same limits as the window parameter's; a window outside them is not used.
    if float(width) < 1 if function == "LINEAR" else float(width) <= 0:
        return None
    return Window(float(center), float(width), function)


def _windowed(values: np.ndarray, window: Window) -> np.ndarray:
    """``values`` windowed straight into 0-255: pydicom's windowing, told the output is 8 bits.

    The Modality LUT has already been applied, so the dataset given to pydicom carries no
    rescale: its output range is then that of 8 unsigned bits.
    """
    voi = Dataset()
    voi.PhotometricInterpretation = "MONOCHROME2"
    voi.BitsStored = 8
    voi.PixelRepresentation = 0
    voi.WindowCenter = window.center
    voi.WindowWidth = window.width
    voi.VOILUTFunction = window.function
    result: np.ndarray = apply_windowing(values.astype(np.float64), voi)
    return result


def _to_8_bits(values: np.ndarray, bits: int) -> np.ndarray:
    if bits <= 8:
        return values.astype(np.uint8)
    return (values.astype(np.uint32) >> (bits - 8)).astype(np.uint8)


def fit(image: Image.Image, viewport: Viewport) -> Image.Image:
    """The viewport's source region of ``image``, scaled to fit inside the viewport."""
    region = viewport.region
    columns, rows = image.size
    width = region.width if region.width is not None else columns - region.x
    height = region.height if region.height is not None else rows - region.y
    right, bottom = region.x + abs(width), region.y + abs(height)
    if width == 0 or height == 0 or right > columns or bottom > rows:
        raise BadRequest("viewport names a source region outside the image")
    if (region.x, region.y, right, bottom) != (0, 0, columns, rows):
        image = image.crop((region.x, region.y, right, bottom))
    if width < 0:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if height < 0:
        image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    scale = min(viewport.width / image.width, viewport.height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)
