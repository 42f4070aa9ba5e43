"""Progressive HTJ2K: how many bytes of an RPCL frame a viewer needs for each resolution level.

Encodes corpus images (pydicom's test data) with the encoder retrieve uses for HTJ2K Lossless
RPCL (1.2.840.10008.1.2.4.202): resolutions lowest first, one tile-part each. For every level it
reports the prefix that holds it (the main header and the tile-parts up to that level's end)
and checks that the prefix alone decodes at that resolution.

    .venv/bin/python -m bench.progressive [--image RG1_UNCR.dcm ...]
"""

from __future__ import annotations

import argparse
import struct
from dataclasses import dataclass

import imagecodecs
import numpy as np
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import HTJ2KLosslessRPCL

from bench.common import report
from shared.pixels.encoders import PixelFormat, encode_frame

IMAGES = ("RG1_UNCR.dcm", "US1_UNCR.dcm", "CT_small.dcm")
_SOC, _SOT = 0xFF4F, 0xFF90


def resolution_stages(codestream: bytes) -> list[int]:
    """The end offset of each tile-part of a single-tile codestream, in codestream order.

    Only marker segment lengths are read (ISO/IEC 15444-1 A.4.2): the main header's segments
    up to the first SOT, then each tile-part's length (Psot) from its SOT. With one tile-part
    per resolution (as the RPCL encoder here writes), entry ``k`` is the prefix that decodes
    ``k + 1`` resolution levels. The last ends before the EOC marker.
    """
    (marker,) = struct.unpack_from(">H", codestream, 0)
    if marker != _SOC:
        raise ValueError("not a JPEG 2000 codestream")
    offset = 2
    while (marker := struct.unpack_from(">H", codestream, offset)[0]) != _SOT:
        (length,) = struct.unpack_from(">H", codestream, offset + 2)
        offset += 2 + length
    ends = []
    while offset + 12 <= len(codestream):
        marker, _, _, tile_part_length = struct.unpack_from(">HHHI", codestream, offset)
        if marker != _SOT:
            break
        offset += tile_part_length
        ends.append(offset)
    return ends


def decode_prefix(prefix: bytes, levels_skipped: int) -> np.ndarray:
    """A truncated codestream decoded at the resolution it holds (OpenJPH, resilient)."""
    return np.asarray(imagecodecs.htj2k_decode(prefix, skipres=levels_skipped, resilient=True))


@dataclass
class Result:
    image: str
    resolution: str
    prefix_bytes: int
    frame_bytes: int
    percent_of_frame: float


def measure(name: str) -> list[Result]:
    path = get_testdata_file(name)
    if path is None:
        raise SystemExit(f"{name} is not in pydicom's test data")
    ds = dcmread(path)
    fmt = PixelFormat.of(ds)
    codestream = encode_frame(HTJ2KLosslessRPCL, ds.pixel_array, fmt)
    stages = resolution_stages(codestream)
    results = []
    for level, end in enumerate(stages):
        image = decode_prefix(codestream[:end], len(stages) - 1 - level)
        rows, columns = image.shape[:2] if fmt.samples_per_pixel == 1 else image.shape[-2:]
        results.append(
            Result(
                image=f"{name} ({fmt.columns}×{fmt.rows})",
                resolution=f"{columns}×{rows}",
                prefix_bytes=end,
                frame_bytes=len(codestream),
                percent_of_frame=round(100 * end / len(codestream), 2),
            )
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", nargs="*", default=list(IMAGES))
    args = parser.parse_args()
    report("progressive", [r for name in args.image for r in measure(name)])


if __name__ == "__main__":
    main()
