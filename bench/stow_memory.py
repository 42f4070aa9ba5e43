"""STOW memory benchmark: the host's peak RSS while it stores a 1 GB multipart request.

Starts its own local stack (Azurite, Cosmos DB emulator, local Functions host) on free ports,
streams a generated request to it, and samples the host process's resident set size while the
request is in flight. Two shapes of request, each about 1 GB:

- ``many``: 100 instances of 10 MB (native 16-bit, 5 frames of 1024 x 1024);
- ``one``: one instance of 1 GB (512 frames of 1024 x 1024, 16-bit).

Nothing is held whole on either side: the body is generated part by part.

    .venv/bin/python -m bench.stow_memory [--shape many|one|both] [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import struct
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from devhost.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
BOUNDARY = "benchBoundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
FRAME = 1024 * 1024 * 2  # 1024 x 1024, 16-bit


def _header(study: str, frames: int) -> bytes:
    """A Part 10 file up to and including the Pixel Data element header."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Bench^Memory"
    ds.PatientID = "BENCH"
    ds.Modality = "MR"
    ds.StudyDate = "20260101"
    ds.Rows = ds.Columns = 1024
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    length = frames * FRAME
    return buffer.getvalue() + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, length)


def _instance(study: str, frames: int) -> Iterator[bytes]:
    yield _header(study, frames)
    frame = bytes(range(256)) * (FRAME // 256)
    for _ in range(frames):
        yield frame


async def _body(instances: int, frames: int) -> AsyncIterator[bytes]:
    study = generate_uid()
    for _ in range(instances):
        yield f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        for chunk in _instance(study, frames):
            yield chunk
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


class RssSampler:
    """Samples a process's RSS every few milliseconds in a thread; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Result:
    shape: str
    instances: int
    megabytes: float
    seconds: float
    mb_per_s: float
    instances_per_s: float
    status: int
    host_rss_before_mb: float
    host_peak_rss_mb: float


async def run_one(stack: LocalStack, shape: str, size_mb: int) -> Result:
    frames_total = size_mb * 1024 * 1024 // FRAME
    instances, frames = (frames_total // 5, 5) if shape == "many" else (1, frames_total)
    host = psutil.Process(stack.pids()["host"])
    before = host.memory_info().rss
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=3600) as http:
        with RssSampler(host.pid) as sampler:
            started = time.perf_counter()
            response = await http.post(
                "/v2/studies",
                content=_body(instances, frames),
                headers={
                    "Content-Type": CONTENT_TYPE,
                    "Accept": "application/dicom+json",
                },
            )
            seconds = time.perf_counter() - started
    megabytes = instances * frames * FRAME / 1e6
    return Result(
        shape=shape,
        instances=instances,
        megabytes=round(megabytes, 1),
        seconds=round(seconds, 2),
        mb_per_s=round(megabytes / seconds, 1),
        instances_per_s=round(instances / seconds, 2),
        status=response.status_code,
        host_rss_before_mb=round(before / 2**20, 1),
        host_peak_rss_mb=round(sampler.peak / 2**20, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("many", "one", "both"), default="both")
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    shapes = ("many", "one") if args.shape == "both" else (args.shape,)
    with tempfile.TemporaryDirectory(prefix="stow-bench-") as tmp:
        stack = LocalStack(ROOT, Path(tmp))
        stack.env["DICOMWEB_MAX_REQUEST_BYTES"] = str(8 * 2**30)
        with stack:
            results = [asyncio.run(run_one(stack, shape, args.size_mb)) for shape in shapes]
    columns = list(Result.__dataclass_fields__)
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in results:
        print("| " + " | ".join(str(v) for v in asdict(r).values()) + " |")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "stow_memory.json").write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
