"""The ingest HTJ2K copy (``DICOMWEB_HTJ2K_COPY``): what it costs to store, what it saves to serve.

For each setting (off, then on) a local stack of its own stores ``--instances`` copies of each
corpus image (fresh UIDs, one instance per request, one request at a time, so the host's CPU
time is the store's own), then asks for frame 1 of each in HTJ2K lossless RPCL, first its
lowest resolution level (a ``Range`` of the bytes a viewer paints a first image from), then the
whole frame. Off, the host encodes the frame for each request; on, it reads the copy.

Reported per image and setting: host CPU ms and wall ms per stored instance, blob bytes per
instance (file, sidecar and copy), host CPU ms per frame request, median ms to the first
resolution level and to the whole frame, the bytes of each, and of the frame uncompressed.

    .venv/bin/python -m bench.htj2k_copy [--instances 20] [--image RG1_UNCR.dcm ...]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import HTJ2KLosslessRPCL, generate_uid

from bench.common import ROOT, report
from bench.cpu import accounting
from bench.progressive import resolution_stages
from devhost.stack import LocalStack, clients_of

IMAGES = ("RG1_UNCR.dcm", "US1_UNCR.dcm", "CT_small.dcm")
SINGLE = f"image/jphc; transfer-syntax={HTJ2KLosslessRPCL}"


@dataclass
class Result:
    image: str
    copy: str
    store_cpu_ms: float
    store_ms: float
    stored_kb: float
    frame_cpu_ms: float
    first_level_ms: float
    frame_ms: float
    first_level_kb: float
    frame_kb: float
    uncompressed_frame_kb: float


def _fresh(image: str) -> bytes:
    """The corpus image with new Study, Series and SOP Instance UIDs."""
    ds = dcmread(str(get_testdata_file(image)))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


async def _store(http: httpx.AsyncClient, data: bytes) -> str:
    response = await http.post(
        "/v2/studies",
        content=data,
        headers={"Content-Type": "application/dicom", "Accept": "application/dicom+json"},
    )
    response.raise_for_status()
    url: str = response.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
    return url


async def _blob_bytes(stack: LocalStack) -> int:
    """The bytes of every blob the stack holds."""
    async with clients_of(stack) as clients:
        container = clients.blobs.container
        return sum([int(blob.size) async for blob in container.list_blobs()])


async def _one(image: str, copy: bool, instances: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-htj2k-") as tmp:
        stack = LocalStack(ROOT, Path(tmp))
        stack.env["DICOMWEB_HTJ2K_COPY"] = "true" if copy else "false"
        with stack:
            return await _measure(stack, image, copy, instances)


async def _measure(stack: LocalStack, image: str, copy: bool, instances: int) -> Result:
    host = {"host": stack.pids()["host"]}
    files = [_fresh(image) for _ in range(instances)]
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=300) as http:
        started = time.perf_counter()
        with accounting(host) as stored_cpu:
            urls = [await _store(http, data) for data in files]
        store_seconds = time.perf_counter() - started
        stored = await _blob_bytes(stack)
        first_times, frame_times = [], []
        first_size = frame_size = 0
        with accounting(host) as frame_cpu:
            for url in urls:
                frame = f"{url}/frames/1"
                whole = await http.get(frame, headers={"accept": SINGLE})
                first_end = resolution_stages(whole.content)[0]
                started = time.perf_counter()
                first = await http.get(
                    frame, headers={"accept": SINGLE, "range": f"bytes=0-{first_end - 1}"}
                )
                first_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                whole = await http.get(frame, headers={"accept": SINGLE})
                frame_times.append(time.perf_counter() - started)
                first_size, frame_size = len(first.content), len(whole.content)
        native = await http.get(
            f"{urls[0]}/frames/1", headers={"accept": "application/octet-stream"}
        )
    requests = 3 * instances
    return Result(
        image=image,
        copy="on" if copy else "off",
        store_cpu_ms=round(stored_cpu["host"] * 1000 / instances, 1),
        store_ms=round(store_seconds * 1000 / instances, 1),
        stored_kb=round(stored / instances / 1024, 1),
        frame_cpu_ms=round(frame_cpu["host"] * 1000 / requests, 1),
        first_level_ms=round(statistics.median(first_times) * 1000, 1),
        frame_ms=round(statistics.median(frame_times) * 1000, 1),
        first_level_kb=round(first_size / 1024, 1),
        frame_kb=round(frame_size / 1024, 1),
        uncompressed_frame_kb=round(len(native.content) / 1024, 1),
    )


async def run(images: list[str], instances: int) -> list[Result]:
    return [await _one(image, copy, instances) for image in images for copy in (False, True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--image", action="append", dest="images")
    args = parser.parse_args()
    report("htj2k_copy", asyncio.run(run(args.images or list(IMAGES), args.instances)))


if __name__ == "__main__":
    main()
