"""What the benchmarks share: generated instances and request bodies, a stack of their own
(optionally with its storage behind latency proxies), an RSS sampler, and one way of reporting
results (a Markdown table and a JSON file)."""

from __future__ import annotations

import io
import json
import struct
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from dataclasses import replace as replaced
from pathlib import Path
from typing import Any

import psutil
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from bench.latency_proxy import Counts, LatencyProxy, serving
from devhost.settings import service_env
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


# The settings of ``devhost.settings.service_env`` that name a storage port.
STORAGE_SETTINGS = ("DICOMWEB_BLOB_CONNECTION_STRING", "DICOMWEB_COSMOS_CONNECTION_STRING")


@dataclass
class StorageProxies:
    """Latency proxies between a stack and its two emulators, each storage call held back by
    ``delay_ms`` as a call to Azure storage takes milliseconds (``bench.latency_proxy``).

    Everything that reads the stack's settings goes through them: the host, the preparation
    step and the benchmark's own SDK clients; requests to the host do not."""

    delay_ms: float
    blob: LatencyProxy = field(init=False)
    index: LatencyProxy = field(init=False)

    def __post_init__(self) -> None:
        self.blob = LatencyProxy(self.delay_ms)
        self.index = LatencyProxy(self.delay_ms)

    def counts(self) -> dict[str, Counts]:
        return {"blob": self.blob.counts, "index": self.index.counts}

    @contextmanager
    def serving(self, stack: LocalStack) -> Iterator[None]:
        """Listen in front of the stack's emulators and point its settings at the proxies.

        The address stays 127.0.0.1, for which the Cosmos SDK accepts the emulator's
        self-signed certificate as it does without a proxy; the emulator names the address its
        client reached as the account's endpoint, so the SDK's later calls stay behind the
        proxy too (``devhost/cosmos_emulator.js``)."""
        routes = [(self.blob, stack.ports.azurite_blob), (self.index, stack.ports.cosmos)]
        with serving(routes):
            proxied = replaced(stack.ports, azurite_blob=self.blob.port, cosmos=self.index.port)
            settings = service_env(proxied)
            stack.env.update({name: settings[name] for name in STORAGE_SETTINGS})
            yield


@contextmanager
def bench_stack(
    prefix: str,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    proxies: StorageProxies | None = None,
) -> Iterator[LocalStack]:
    """A local stack of the benchmark's own, on free ports, that takes requests of any size,
    its host running ``workers`` worker processes, with ``env``'s settings besides, and its
    storage behind ``proxies`` when given."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, ExitStack() as running:
        stack = LocalStack(ROOT, Path(tmp))
        stack.env["DICOMWEB_MAX_REQUEST_BYTES"] = str(8 * 2**30)
        stack.env[WORKER_PROCESS_COUNT] = str(workers)
        stack.env.update(env or {})
        if proxies is not None:
            running.enter_context(proxies.serving(stack))
        yield running.enter_context(stack)


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


def markdown_table(results: Sequence[Any]) -> str:
    """The results (dataclasses) as a Markdown table, one column per field."""
    rows = [asdict(r) for r in results if is_dataclass(r) and not isinstance(r, type)]
    if not rows:
        return ""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(str(v) for v in row.values()) + " |" for row in rows]
    return "\n".join(lines)


def report(name: str, results: Sequence[Any]) -> None:
    """Print the results (dataclasses) as a Markdown table; keep them in bench/results/."""
    rows = [asdict(r) for r in results if is_dataclass(r) and not isinstance(r, type)]
    if not rows:
        return
    print(markdown_table(results))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(rows, indent=2))
