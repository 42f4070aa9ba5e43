"""Every output encoding round-trips through pydicom's decoders: exactly when lossless, within a
stated error when lossy; formats an encoding cannot take are refused before encoding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
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

from shared.pixels.encoders import (
    ENCODINGS,
    JPEG_LS_NEAR,
    PixelFormat,
    can_encode,
    encode_frame,
    encode_pixel_data,
    is_lossy,
    native_frame_array,
)
from shared.pixels.transcode import decode_frame

LOSSLESS = [
    RLELossless,
    JPEGLSLossless,
    JPEG2000Lossless,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEGLosslessSV1,
]
ROOT = Path(__file__).resolve().parents[3]
LOSSY = [JPEGLSNearLossless, JPEG2000, HTJ2K, JPEGBaseline8Bit]


def _format(bits_stored: int, signed: bool = False, samples: int = 1) -> PixelFormat:
    photometric = "RGB" if samples == 3 else "MONOCHROME2"
    allocated = 8 if bits_stored <= 8 else 16
    return PixelFormat(40, 36, samples, allocated, bits_stored, int(signed), photometric)


def _attributes(fmt: PixelFormat) -> Dataset:
    ds = Dataset()
    ds.Rows, ds.Columns = fmt.rows, fmt.columns
    ds.SamplesPerPixel = fmt.samples_per_pixel
    ds.BitsAllocated, ds.BitsStored = fmt.bits_allocated, fmt.bits_stored
    ds.HighBit = fmt.bits_stored - 1
    ds.PixelRepresentation = fmt.pixel_representation
    ds.PhotometricInterpretation = fmt.photometric_interpretation
    if fmt.samples_per_pixel == 3:
        ds.PlanarConfiguration = 0
    return ds


def _image(fmt: PixelFormat, seed: int) -> np.ndarray:
    """A smooth gradient with noise: the kind of content lossy coders approximate well."""
    rng = np.random.default_rng(seed)
    low = -(2 ** (fmt.bits_stored - 1)) if fmt.pixel_representation else 0
    high = 2 ** (fmt.bits_stored - 1) - 1 if fmt.pixel_representation else 2**fmt.bits_stored - 1
    shape = (fmt.rows, fmt.columns) + ((3,) if fmt.samples_per_pixel == 3 else ())
    ramp = np.linspace(low, high, fmt.columns)[np.newaxis, :]
    base = np.broadcast_to(ramp if len(shape) == 2 else ramp[..., np.newaxis], shape)
    noisy = base + rng.normal(0, (high - low) / 200, shape)
    dtype = f"{'i' if fmt.pixel_representation else 'u'}{fmt.bits_allocated // 8}"
    return np.clip(noisy, low, high).astype(dtype)


def _decoded(codestream: bytes, syntax: str, fmt: PixelFormat) -> np.ndarray:
    attributes = _attributes(fmt)
    if syntax == JPEGBaseline8Bit and fmt.samples_per_pixel == 3:
        attributes.PhotometricInterpretation = "YBR_FULL"
    native = decode_frame(codestream, syntax, attributes)
    attributes.PhotometricInterpretation = fmt.photometric_interpretation
    return native_frame_array(native, attributes)


@pytest.mark.parametrize("syntax", LOSSLESS)
@settings(max_examples=6, deadline=None)
@given(
    bits_stored=st.sampled_from([8, 12, 16, 10]),
    signed=st.booleans(),
    colour=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_lossless_encodings_give_back_every_sample(
    syntax: str, bits_stored: int, signed: bool, colour: bool, seed: int
) -> None:
    # PS3.5 8.2: colour samples are unsigned.
    fmt = _format(bits_stored, signed and not colour, 3 if colour else 1)
    image = _image(fmt, seed)
    assert can_encode(syntax, fmt)
    codestream = encode_frame(syntax, image, fmt)
    assert type(codestream) is bytes  # a frame is sent as it is: a bytearray is not a body
    assert np.array_equal(_decoded(codestream, syntax, fmt), image)


# The largest difference allowed per lossy syntax, as a fraction of the sample range; JPEG-LS
# near-lossless is bounded by its NEAR parameter exactly.
TOLERANCE = {JPEG2000: 0.05, HTJ2K: 0.05, JPEGBaseline8Bit: 0.15}


@pytest.mark.parametrize("syntax", LOSSY)
@pytest.mark.parametrize("colour", [False, True])
def test_lossy_encodings_stay_within_their_tolerance(syntax: str, colour: bool) -> None:
    bits = {JPEGBaseline8Bit: 8, HTJ2K: 16}.get(syntax, 12)
    fmt = _format(bits, samples=3 if colour else 1)
    image = _image(fmt, 7)
    decoded = _decoded(encode_frame(syntax, image, fmt), syntax, fmt).astype(np.int64)
    error = np.abs(decoded - image.astype(np.int64))
    if syntax == JPEGLSNearLossless:
        assert error.max() <= JPEG_LS_NEAR
    else:
        assert error.mean() <= TOLERANCE[syntax] * 2**fmt.bits_stored / 4
        assert error.max() <= TOLERANCE[syntax] * 2**fmt.bits_stored


def test_lossy_is_exactly_the_named_lossy_syntaxes() -> None:
    assert sorted(s for s in ENCODINGS if is_lossy(s)) == sorted(LOSSY)
    assert not is_lossy("1.2.840.10008.1.2.1")


@pytest.mark.parametrize(
    ("syntax", "fmt"),
    [
        (JPEGBaseline8Bit, _format(12)),
        (JPEGBaseline8Bit, _format(8, signed=True)),
        (HTJ2K, _format(12)),
        (JPEG2000Lossless, PixelFormat(64, 64, 1, 32, 32, 0, "MONOCHROME2")),
        (JPEG2000Lossless, PixelFormat(64, 31, 1, 8, 8, 0, "MONOCHROME2")),
        (HTJ2KLossless, PixelFormat(4, 4, 1, 1, 1, 0, "MONOCHROME2")),
        (JPEGLSLossless, PixelFormat(4, 4, 4, 8, 8, 0, "ARGB")),
        (JPEG2000, PixelFormat(4, 4, 1, 8, 8, 0, "PALETTE COLOR")),
        (RLELossless, PixelFormat(4, 4, 1, 32, 32, 0, "MONOCHROME2")),
        (ExplicitVRLittleEndian, _format(8)),
    ],
)
def test_formats_an_encoding_cannot_take_are_refused(syntax: str, fmt: PixelFormat) -> None:
    assert not can_encode(syntax, fmt)


def _instance(fmt: PixelFormat, frames: int) -> Dataset:
    ds = _attributes(fmt)
    ds.NumberOfFrames = frames
    ds.PixelData = b"".join(_image(fmt, seed).tobytes() for seed in range(frames))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def test_a_lossy_instance_says_so_with_its_ratio_and_method() -> None:
    ds = _instance(_format(12), 2)
    encode_pixel_data(ds, JPEG2000)
    assert ds.file_meta.TransferSyntaxUID == JPEG2000
    assert ds.LossyImageCompression == "01"
    assert float(ds.LossyImageCompressionRatio) > 1
    assert ds.LossyImageCompressionMethod == "ISO_15444_1"


def test_compressing_again_appends_ratio_and_method() -> None:
    ds = _instance(_format(8), 1)
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = "5"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    encode_pixel_data(ds, HTJ2K)
    assert list(ds.LossyImageCompressionMethod) == ["ISO_10918_1", "ISO_15444_15"]
    assert len(ds.LossyImageCompressionRatio) == 2


def test_a_lossless_encoding_adds_no_lossy_attributes() -> None:
    ds = _instance(_format(16), 3)
    encode_pixel_data(ds, HTJ2KLosslessRPCL)
    assert "LossyImageCompression" not in ds
    assert ds.file_meta.TransferSyntaxUID == HTJ2KLosslessRPCL


def test_rpcl_codestreams_have_rpcl_order_and_a_tile_part_length_marker() -> None:
    fmt = _format(16)
    codestream = encode_frame(HTJ2KLosslessRPCL, _image(fmt, 1), fmt)
    cod = codestream.index(b"\xff\x52")
    assert codestream[cod + 5] == 2  # SGcod progression order: RPCL (ISO 15444-1 Table A.16)
    assert b"\xff\x55" in codestream  # TLM


def test_colour_jpeg_baseline_instances_become_ybr_full() -> None:
    ds = _instance(_format(8, samples=3), 1)
    encode_pixel_data(ds, JPEGBaseline8Bit)
    assert ds.PhotometricInterpretation == "YBR_FULL"


# Frames are encoded in worker threads, a few at a time; every encoder must survive that. Run in
# a child process, since a library that is not safe corrupts memory and crashes its process.
_CONCURRENT_ENCODING = """
import logging, sys, threading
import numpy as np
from shared.pixels.encoders import PixelFormat, encode_frame
logging.basicConfig(level=logging.INFO, stream=open("/dev/null", "w"))
fmt = PixelFormat(128, 128, 1, 16, 12, 0, "MONOCHROME2")
frame = np.random.default_rng(0).integers(0, 4096, (128, 128)).astype(np.uint16)
def encode():
    for _ in range(60):
        encode_frame(sys.argv[1], frame, fmt)
def churn():
    while not done.is_set():
        [{"n": [n] * 3} for n in range(1000)]
done = threading.Event()
threads = [threading.Thread(target=encode) for _ in range(4)]
busy = threading.Thread(target=churn)
for thread in [busy, *threads]:
    thread.start()
for thread in threads:
    thread.join()
done.set()
"""


@pytest.mark.parametrize("syntax", [JPEG2000Lossless, JPEG2000, HTJ2KLossless, JPEGLSLossless])
def test_frames_encode_in_several_threads_at_once(syntax: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _CONCURRENT_ENCODING, syntax],
        cwd=ROOT,
        capture_output=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-2000:]


# Each forked process starts with the encoders' libraries loaded but never used, as a new worker
# process does, and encodes its first frames in one thread each, at once: every frame must decode
# back to its own pixels.
_FIRST_ENCODES = """
import os, sys, threading
import imagecodecs
import numpy as np
from shared.pixels.encoders import PixelFormat, encode_frame
fmt = PixelFormat(64, 64, 1, 16, 12, 0, "MONOCHROME2")
rng = np.random.default_rng(0)
frames = [rng.integers(0, 4096, (64, 64)).astype(np.uint16) for _ in range(8)]
def first_encodes():
    out = [b""] * len(frames)
    def encode(i):
        out[i] = encode_frame(sys.argv[1], frames[i], fmt)
    threads = [threading.Thread(target=encode, args=(i,)) for i in range(len(frames))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for data, frame in zip(out, frames):
        try:
            if not np.array_equal(imagecodecs.htj2k_decode(data), frame):
                return 1
        except Exception:
            return 1
    return 0
corrupt = 0
for _ in range(40):
    pid = os.fork()
    if pid == 0:
        os._exit(first_encodes())
    corrupt += os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0
print(corrupt)
"""


@pytest.mark.parametrize("syntax", [HTJ2KLossless, HTJ2KLosslessRPCL])
def test_first_htj2k_encodes_of_a_process_in_several_threads_decode_to_their_frames(
    syntax: str,
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _FIRST_ENCODES, syntax],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split() == ["0"], "processes whose first encodes were corrupt"
