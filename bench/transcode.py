"""Transcoding throughput: megabytes of pixel data converted per second, per output syntax.

Converts generated Explicit VR Little Endian instances (a 512 x 512 16-bit greyscale image of
12 stored bits, like CT, of 10 frames; and a 512 x 512 8-bit RGB image of 10 frames) to every
output syntax with the function retrieve uses, in this process, so the figure is the codec's
cost without storage or HTTP. Each conversion is timed ``--repeat`` times and the best is kept.

    .venv/bin/python -m bench.transcode [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import time
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from bench.common import report
from shared.pixels.encoders import ENCODINGS, PixelFormat, can_encode
from shared.pixels.transcode import convert

FRAMES = 10
SIZE = 512


@dataclass
class Result:
    source: str
    target: str
    pixel_mb: float
    seconds: float
    mb_per_second: float
    size_ratio: float


def _instance(samples: int, bits_stored: int) -> bytes:
    """A Part 10 file of smooth content with noise, which is what medical images compress like."""
    rng = np.random.default_rng(0)
    allocated = 8 if bits_stored <= 8 else 16
    top = 2**bits_stored - 1
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    base = (np.sin(x / 40) * np.cos(y / 55) + 1) / 2 * top
    shape = (FRAMES, SIZE, SIZE) + ((samples,) if samples > 1 else ())
    field = base[np.newaxis, ..., np.newaxis] if samples > 1 else base[np.newaxis]
    pixels = np.clip(field + rng.normal(0, top / 100, shape), 0, top).astype(f"u{allocated // 8}")
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Rows = ds.Columns = SIZE
    ds.NumberOfFrames = FRAMES
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = "RGB" if samples == 3 else "MONOCHROME2"
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = allocated, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def run(repeat: int) -> list[Result]:
    results = []
    for label, samples, bits in [("greyscale 12-bit", 1, 12), ("RGB 8-bit", 3, 8)]:
        data = _instance(samples, bits)
        photometric = "RGB" if samples == 3 else "MONOCHROME2"
        fmt = PixelFormat(SIZE, SIZE, samples, 8 if bits <= 8 else 16, bits, 0, photometric)
        pixel_bytes = fmt.frame_bytes * FRAMES
        for target in [*ENCODINGS, DeflatedExplicitVRLittleEndian]:
            if target in ENCODINGS and not can_encode(target, fmt):
                continue
            best = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                out = convert(data, target)
                best = min(best, time.perf_counter() - start)
            results.append(
                Result(
                    label,
                    target,
                    round(pixel_bytes / 1e6, 1),
                    round(best, 3),
                    round(pixel_bytes / 1e6 / best, 1),
                    round(len(data) / len(out), 2),
                )
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    report("transcode", run(parser.parse_args().repeat))


if __name__ == "__main__":
    main()
