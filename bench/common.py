"""What the benchmarks share: generated instances and request bodies, a stack of their own, an
RSS sampler, and one way of reporting results (a Markdown table and a JSON file)."""

from __future__ import annotations

import io
import json
import struct
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import psutil
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from devhost.stack import LocalStack
from devhost.workers import WORKER_PROCESS_COUNT

ROOT = Path(__file__).resolve().parents[1]
BOUNDARY = "benchBoundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
FRAME = 1024 * 1024 * 2  # 1024 x 1024, 16-bit


def instance_head(study: str, series: str, frames: int, rows: int = 1024) -> bytes:
    """A native 16-bit Part 10 file up to and including its Pixel Data element header."""
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
    ds.SeriesInstanceUID = series
    ds.PatientName = "Bench^Memory"
    ds.PatientID = "BENCH"
    ds.Modality = "MR"
    ds.StudyDate = "20260101"
    ds.Rows = ds.Columns = rows
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    length = frames * rows * rows * 2
    return buffer.getvalue() + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, length)


def instance_chunks(study: str, series: str, frames: int, rows: int = 1024) -> Iterator[bytes]:
    """One instance as a stream of chunks: its head, then one chunk per frame."""
    yield instance_head(study, series, frames, rows)
    frame_size = rows * rows * 2
    frame = bytes(range(256)) * (frame_size // 256) + bytes(frame_size % 256)
    for _ in range(frames):
        yield frame


async def multipart_body(
    instances: int, frames: int, *, study: str | None = None, rows: int = 1024
) -> AsyncIterator[bytes]:
    """A STOW body of ``instances`` generated instances (one series each), never held whole."""
    study = study or generate_uid()
    for _ in range(instances):
        yield f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        for chunk in instance_chunks(study, generate_uid(), frames, rows):
            yield chunk
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


@contextmanager
def bench_stack(
    prefix: str, workers: int = 1, env: Mapping[str, str] | None = None
) -> Iterator[LocalStack]:
    """A local stack of the benchmark's own, on free ports, that takes requests of any size,
    its host running ``workers`` worker processes, with ``env``'s settings besides."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        stack = LocalStack(ROOT, Path(tmp))
        stack.env["DICOMWEB_MAX_REQUEST_BYTES"] = str(8 * 2**30)
        stack.env[WORKER_PROCESS_COUNT] = str(workers)
        stack.env.update(env or {})
        with stack:
            yield stack


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


def report(name: str, results: Sequence[Any]) -> None:
    """Print the results (dataclasses) as a Markdown table; keep them in bench/results/."""
    rows = [asdict(r) for r in results if is_dataclass(r) and not isinstance(r, type)]
    if not rows:
        return
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(rows, indent=2))
