"""Encoding decoded pixels in the compressed transfer syntaxes retrieve produces.

Each output syntax is one ``Encoding``: the pixel formats it takes, whether it loses
information, and which library writes its codestream. pydicom's encoders write RLE, JPEG-LS
(CharLS through pyjpegls) and JPEG 2000 (OpenJPEG through pylibjpeg-openjpeg); imagecodecs
writes HTJ2K with OpenJPH (the HTJ2K encoder published with Python 3.11 wheels) and JPEG Lossless
with libjpeg-turbo; Pillow's libjpeg writes JPEG baseline, for 8-bit pixels only. Colour is
encoded without a multi-component transform, so a frame's codestream holds the samples its
Photometric Interpretation names; JPEG baseline is the exception, since JFIF colour is YCbCr:
such an instance becomes YBR_FULL.

Whether a pixel format can be encoded is decided from the Image Pixel attributes alone, so that a
request that cannot be answered is refused (406) before any byte is sent.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import imagecodecs
import numpy as np
from PIL import Image
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.multival import MultiValue
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.encoders.base import ENCODING_PROFILES, get_encoder
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

JPEG_LS_NEAR = 2
"""Largest difference from the original a JPEG-LS near-lossless sample may have (NEAR)."""
JPEG_2000_RATIO = 5.0
"""Target compression ratio of lossy JPEG 2000."""
HTJ2K_QUANTIZATION_STEPS = {8: 0.004, 16: 0.0005}
"""Base quantization step of lossy HTJ2K (OpenJPH ``qstep``, relative to the sample range) by
bits per sample: about 1:3 to 1:6 for 8-bit images and 1:6 to 1:12 for 16-bit ones, with a mean
error under 0.5 % of the range on the test corpus."""
JPEG_QUALITY = 90
"""Pillow's JPEG quality for JPEG baseline: visually lossless for diagnostic viewing sizes."""


@dataclass(frozen=True)
class PixelFormat:
    """The Image Pixel attributes (PS3.3 C.7.6.3) an encoder needs, of pixels as decoded."""

    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str

    @classmethod
    def of(cls, ds: Dataset) -> PixelFormat:
        """The format of ``ds``'s pixels; ValueError when an attribute is missing or wrong."""
        try:
            return cls(
                int(ds.Rows),
                int(ds.Columns),
                int(ds.get("SamplesPerPixel") or 1),
                int(ds.BitsAllocated),
                int(ds.get("BitsStored") or ds.BitsAllocated),
                int(ds.get("PixelRepresentation") or 0),
                str(ds.get("PhotometricInterpretation") or "MONOCHROME2"),
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise ValueError("the Image Pixel attributes are incomplete") from exc

    @property
    def frame_bytes(self) -> int:
        return self.rows * self.columns * self.samples_per_pixel * self.bits_allocated // 8

    def options(self) -> dict[str, Any]:
        """The format as pydicom's encoder options, for one frame of colour-by-pixel samples."""
        return {
            "rows": self.rows,
            "columns": self.columns,
            "samples_per_pixel": self.samples_per_pixel,
            "bits_allocated": self.bits_allocated,
            "bits_stored": self.bits_stored,
            "pixel_representation": self.pixel_representation,
            "photometric_interpretation": self.photometric_interpretation,
            "number_of_frames": 1,
            "planar_configuration": 0,
        }


OPENJPEG_SMALLEST = 32
"""Fewest rows or columns pylibjpeg-openjpeg encodes: it always makes six resolutions (2⁵)."""


def _profile(uid: UID, smallest: int = 1) -> Callable[[PixelFormat], bool]:
    """The pixel formats PS3.5 section 8.2 allows in ``uid``, as pydicom's encoders list them,
    of at most 16 bits: the widest samples every library here writes (HTJ2K shares JPEG 2000's)."""

    profiles = ENCODING_PROFILES[uid]

    def accepts(fmt: PixelFormat) -> bool:
        if min(fmt.rows, fmt.columns) < smallest or fmt.bits_allocated > 16:
            return False
        return any(
            fmt.photometric_interpretation == photometric
            and fmt.samples_per_pixel == samples
            and fmt.pixel_representation in representations
            and fmt.bits_allocated in allocated
            and fmt.bits_stored in stored
            for photometric, samples, representations, allocated, stored in profiles
        )

    return accepts


_JPEG_2000_FORMATS = _profile(JPEG2000)
_JPEG_BASELINE_FORMATS = _profile(JPEGBaseline8Bit)


def _htj2k_lossy_accepts(fmt: PixelFormat) -> bool:
    """imagecodecs writes the precision of the array (8 or 16 bits), not Bits Stored: a sample
    that quantization pushes past 12 bits would wrap for a reader that masks to Bits Stored."""
    return fmt.bits_stored == fmt.bits_allocated and _JPEG_2000_FORMATS(fmt)


def _jpeg_baseline_accepts(fmt: PixelFormat) -> bool:
    """Pillow is given greyscale or RGB samples, never YCbCr ones."""
    return fmt.photometric_interpretation != "YBR_FULL_422" and _JPEG_BASELINE_FORMATS(fmt)


_OPENJPEG = threading.Lock()
"""pylibjpeg-openjpeg's encoder corrupts the interpreter's memory when two threads encode at
once (seen as segmentation faults under concurrent frame conversions), so its calls take turns;
its decoder, and every other encoder here once warm (``_openjph_encode``), run in parallel."""


def _pydicom_encoder(
    uid: UID, *, one_at_a_time: bool = False, **options: Any
) -> Callable[[np.ndarray, PixelFormat], bytes]:
    def encode(frame: np.ndarray, fmt: PixelFormat) -> bytes:
        with _OPENJPEG if one_at_a_time else contextlib.nullcontext():
            return bytes(get_encoder(uid).encode(frame, **fmt.options(), **options))

    return encode


_OPENJPH_FIRST = threading.Lock()
_OPENJPH_READY = threading.Event()


def _openjph_encode(frame: np.ndarray, **options: Any) -> bytes:
    """An HTJ2K codestream from OpenJPH (imagecodecs), whose first encode in a process runs
    alone: OpenJPH builds its coding tables on first use without a lock, and threads encoding
    first at once wrote corrupt codestreams (about one fresh process in six, encoding a 10-frame
    copy four frames at a time). Once built, the tables are only read, and encodes run in
    parallel."""
    if _OPENJPH_READY.is_set():
        return bytes(imagecodecs.htj2k_encode(frame, rgb=False, **options))
    with _OPENJPH_FIRST:
        encoded = bytes(imagecodecs.htj2k_encode(frame, rgb=False, **options))
        _OPENJPH_READY.set()
    return encoded


def _htj2k_encoder(**options: Any) -> Callable[[np.ndarray, PixelFormat], bytes]:
    def encode(frame: np.ndarray, fmt: PixelFormat) -> bytes:
        return _openjph_encode(frame, **options)

    return encode


def _htj2k_lossy(frame: np.ndarray, fmt: PixelFormat) -> bytes:
    step = HTJ2K_QUANTIZATION_STEPS[fmt.bits_allocated]
    return _openjph_encode(frame, reversible=False, level=step)


def _jpeg_lossless(frame: np.ndarray, fmt: PixelFormat) -> bytes:
    """Process 14, first-order prediction. JPEG samples are unsigned: signed pixels are given as
    their Bits Stored low bits, which is how DICOM stores them and how decoders read them back."""
    unsigned = frame.view(frame.dtype.str.replace("i", "u")) & ((1 << fmt.bits_stored) - 1)
    # Colour samples are kept as they are (no YCbCr conversion), labelled RGB for libjpeg-turbo.
    space = "RGB" if fmt.samples_per_pixel == 3 else None
    codestream = imagecodecs.jpeg8_encode(
        unsigned,
        lossless=True,
        predictor=1,
        bitspersample=fmt.bits_stored,
        colorspace=space,
        outcolorspace=space,
    )
    return bytes(codestream)


def _jpeg_baseline(frame: np.ndarray, fmt: PixelFormat) -> bytes:
    out = io.BytesIO()
    image = Image.fromarray(frame, mode="L" if fmt.samples_per_pixel == 1 else "RGB")
    image.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return out.getvalue()


@dataclass(frozen=True)
class Encoding:
    """One compressed output syntax."""

    accepts: Callable[[PixelFormat], bool]
    encode: Callable[[np.ndarray, PixelFormat], bytes]
    """One frame, colour-by-pixel (rows, columns[, samples]), to its codestream."""
    lossy_method: str | None = None
    """Lossy Image Compression Method (0028,2114) of a lossy syntax (PS3.3 C.7.6.1.1.5.1)."""


ENCODINGS: dict[str, Encoding] = {
    RLELossless: Encoding(_profile(RLELossless), _pydicom_encoder(RLELossless)),
    JPEGLSLossless: Encoding(_profile(JPEGLSLossless), _pydicom_encoder(JPEGLSLossless)),
    JPEGLSNearLossless: Encoding(
        _profile(JPEGLSNearLossless),
        _pydicom_encoder(JPEGLSNearLossless, jls_error=JPEG_LS_NEAR),
        "ISO_14495_1",
    ),
    JPEG2000Lossless: Encoding(
        _profile(JPEG2000Lossless, OPENJPEG_SMALLEST),
        _pydicom_encoder(JPEG2000Lossless, one_at_a_time=True, use_mct=False),
    ),
    JPEG2000: Encoding(
        _profile(JPEG2000, OPENJPEG_SMALLEST),
        _pydicom_encoder(JPEG2000, one_at_a_time=True, use_mct=False, j2k_cr=[JPEG_2000_RATIO]),
        "ISO_15444_1",
    ),
    HTJ2KLossless: Encoding(_profile(JPEG2000Lossless), _htj2k_encoder(reversible=True)),
    # PS3.5 8.2.15: RPCL progression (OpenJPH's order), a TLM marker segment and one tile-part
    # per resolution, so that a reader can fetch a lower resolution by byte range.
    HTJ2KLosslessRPCL: Encoding(
        _profile(JPEG2000Lossless), _htj2k_encoder(reversible=True, tlm=True, tilepart=1)
    ),
    HTJ2K: Encoding(_htj2k_lossy_accepts, _htj2k_lossy, "ISO_15444_15"),
    JPEGLosslessSV1: Encoding(_profile(JPEGLosslessSV1), _jpeg_lossless),
    JPEGBaseline8Bit: Encoding(_jpeg_baseline_accepts, _jpeg_baseline, "ISO_10918_1"),
}


def is_lossy(syntax: str) -> bool:
    """Whether ``syntax`` is one of the lossy outputs, which are produced only when named."""
    encoding = ENCODINGS.get(syntax)
    return encoding is not None and encoding.lossy_method is not None


def can_encode(syntax: str, fmt: PixelFormat) -> bool:
    """Whether pixels of ``fmt`` can be written in ``syntax``."""
    encoding = ENCODINGS.get(syntax)
    return encoding is not None and encoding.accepts(fmt)


def encode_frame(syntax: str, frame: np.ndarray, fmt: PixelFormat) -> bytes:
    """One decoded frame as a ``syntax`` codestream (checked with ``can_encode``)."""
    return ENCODINGS[syntax].encode(frame, fmt)


def decoded_attributes(attributes: Dataset, stored_syntax: str) -> Dataset:
    """The Image Pixel attributes of pixels once decoded: pydicom gives compressed colour as
    interleaved RGB, whatever the codestream held (YCbCr, RCT, ICT)."""
    decoded = Dataset()
    decoded.update(attributes)
    if UID(stored_syntax).is_compressed and int(attributes.get("SamplesPerPixel") or 1) == 3:
        decoded.PhotometricInterpretation = "RGB"
        decoded.PlanarConfiguration = 0
    return decoded


def can_encode_from(syntax: str, attributes: Dataset, stored_syntax: str) -> bool:
    """Whether pixels stored in ``stored_syntax``, so described, can be given in ``syntax``."""
    try:
        return can_encode(syntax, PixelFormat.of(decoded_attributes(attributes, stored_syntax)))
    except ValueError:
        return False


def encode_native_frame(syntax: str, data: bytes, attributes: Dataset) -> bytes:
    """One frame of native little endian pixel data, described by ``attributes`` as decoded, as
    a ``syntax`` codestream."""
    return encode_frame(syntax, native_frame_array(data, attributes), PixelFormat.of(attributes))


def native_frame_array(data: bytes, attributes: Dataset) -> np.ndarray:
    """One frame of native little endian pixel data as an array, colour-by-pixel."""
    return next(_frames(attributes, data, 1))


def _frames(attributes: Dataset, pixel_data: bytes, number_of_frames: int) -> Iterator[np.ndarray]:
    """Native little endian frames as arrays, as stored (no colour conversion), one at a time so
    that an encoder never holds a second decoded copy of the whole.

    The decoder reads a view holding only the Image Pixel attributes (group 0028), labelled
    Explicit VR Little Endian: the source file's own label (big endian, deflated) no longer
    describes these bytes.
    """
    view = attributes.group_dataset(0x0028)
    view.NumberOfFrames = number_of_frames
    view.PixelData = pixel_data
    view.file_meta = FileMetaDataset()
    view.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for frame, _ in get_decoder(ExplicitVRLittleEndian).iter_array(view, raw=True):
        yield frame


def encode_pixel_data(ds: Dataset, syntax: UID) -> None:
    """Replace ``ds``'s native little endian Pixel Data with its ``syntax`` encoding, in place.

    A lossy syntax also sets the Lossy Image Compression attributes (PS3.3 C.7.6.1.1.5), after
    any the instance already had, as the module requires when compression is applied again.
    """
    fmt = PixelFormat.of(ds)
    encoding = ENCODINGS[syntax]
    count = int(ds.get("NumberOfFrames") or 1)
    frames = [encoding.encode(frame, fmt) for frame in _frames(ds, ds.PixelData, count)]
    ds.PixelData = encapsulate(frames)
    element = ds["PixelData"]
    element.VR = "OB"
    element.is_undefined_length = True
    ratio = fmt.frame_bytes * len(frames) / max(sum(len(f) for f in frames), 1)
    describe_encoding(ds, syntax, fmt, ratio)


def describe_encoding(ds: Dataset, syntax: UID, fmt: PixelFormat, ratio: float) -> None:
    """Make ``ds``'s attributes describe its pixels, of ``fmt``, as now encoded in ``syntax``:
    colour-by-pixel, YCbCr for colour JPEG baseline, and for a lossy syntax the Lossy Image
    Compression attributes with ``ratio`` (uncompressed over compressed size)."""
    if "PlanarConfiguration" in ds:
        ds.PlanarConfiguration = 0
    if syntax == JPEGBaseline8Bit and fmt.samples_per_pixel == 3:
        ds.PhotometricInterpretation = "YBR_FULL"
    method = ENCODINGS[syntax].lossy_method
    if method is not None:
        _mark_lossy(ds, ratio, method)
    ds.file_meta.TransferSyntaxUID = syntax


def _mark_lossy(ds: Dataset, ratio: float, method: str) -> None:
    """Lossy Image Compression "01", with this compression's ratio and method appended."""
    earlier = ds.get("LossyImageCompression") == "01"
    ratios = list(_values(ds, "LossyImageCompressionRatio")) if earlier else []
    methods = list(_values(ds, "LossyImageCompressionMethod")) if earlier else []
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = [*ratios, f"{ratio:.2f}"]
    ds.LossyImageCompressionMethod = [*methods, method]


def _values(ds: Dataset, keyword: str) -> list[Any]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, MultiValue) else [value]
