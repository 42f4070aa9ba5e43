"""WADO-RS memory benchmark: the host's peak RSS while it streams a 2 GB study.

Starts its own local stack on free ports, stores a generated study with STOW-RS (streamed, as in
``bench.stow_memory``), then retrieves it and samples the host process's resident set size while
the response is read. The client counts the bytes as they arrive and keeps none of them. Two
shapes of study, each about 2 GB of native 16-bit frames of 1024 x 1024:

- ``many``: 128 instances of 16 MB (8 frames each);
- ``large``: 2 instances of 1 GB (512 frames each).

Each study is retrieved as stored (``transfer-syntax=*``), in the default syntax (Explicit VR
Little Endian, which these files are stored in, so no conversion happens), in HTJ2K Lossless
(each instance converted frame by frame) and as a zip of its files (``application/zip``), then
one frame of the last instance is fetched to show that a frame costs one ranged read, not the
file.

    .venv/bin/python -m bench.retrieve_memory [--shape many|large|both] [--size-mb 2048]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

import httpx
import psutil

from bench.common import CONTENT_TYPE, FRAME, RssSampler, bench_stack, multipart_body, report
from devhost.stack import LocalStack

ACCEPTS = {
    "as stored": 'multipart/related; type="application/dicom"; transfer-syntax=*',
    "default": 'multipart/related; type="application/dicom"',
    "HTJ2K Lossless (converted frame by frame)": (
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.201'
    ),
    "zip (the files as stored)": "application/zip",
}


@dataclass
class Result:
    shape: str
    request: str
    instances: int
    megabytes: float
    first_byte_seconds: float
    seconds: float
    mb_per_s: float
    status: int
    host_rss_before_mb: float
    host_peak_rss_mb: float


async def _store(http: httpx.AsyncClient, instances: int, frames: int) -> tuple[str, str]:
    """Store the study; return its URL and the URL of its last instance."""
    response = await http.post(
        "/v2/studies",
        content=multipart_body(instances, frames),
        headers={"Content-Type": CONTENT_TYPE, "Accept": "application/dicom+json"},
    )
    response.raise_for_status()
    dataset = response.json()
    last = dataset["00081199"]["Value"][-1]["00081190"]["Value"][0]
    return dataset["00081190"]["Value"][0], last


async def _timed_get(
    http: httpx.AsyncClient, host: psutil.Process, url: str, accept: str
) -> tuple[int, int, float, float, int, int]:
    """Status, bytes read, seconds to the first body byte and in all, RSS before and peak RSS
    of one streamed GET."""
    before = host.memory_info().rss
    received = 0
    first_byte = 0.0
    with RssSampler(host.pid) as sampler:
        started = time.perf_counter()
        async with http.stream("GET", url, headers={"Accept": accept}) as response:
            async for chunk in response.aiter_raw():
                if not received:
                    first_byte = time.perf_counter() - started
                received += len(chunk)
            status = response.status_code
        seconds = time.perf_counter() - started
    return status, received, first_byte, seconds, before, sampler.peak


async def run_shape(stack: LocalStack, shape: str, size_mb: int) -> list[Result]:
    frames_total = size_mb * 1024 * 1024 // FRAME
    instances, frames = (frames_total // 8, 8) if shape == "many" else (2, frames_total // 2)
    host = psutil.Process(stack.pids()["host"])
    results = []
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=3600) as http:
        study_url, last_instance = await _store(http, instances, frames)
        requests = [(name, study_url, accept) for name, accept in ACCEPTS.items()]
        requests.append(
            (
                "one frame",
                f"{last_instance}/frames/{frames}",
                'multipart/related; type="application/octet-stream"',
            )
        )
        for name, url, accept in requests:
            status, received, first_byte, seconds, before, peak = await _timed_get(
                http, host, url, accept
            )
            megabytes = received / 1e6
            results.append(
                Result(
                    shape=shape,
                    request=name,
                    instances=instances if name != "one frame" else 1,
                    megabytes=round(megabytes, 1),
                    first_byte_seconds=round(first_byte, 3),
                    seconds=round(seconds, 3),
                    mb_per_s=round(megabytes / seconds, 1),
                    status=status,
                    host_rss_before_mb=round(before / 2**20, 1),
                    host_peak_rss_mb=round(peak / 2**20, 1),
                )
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("many", "large", "both"), default="both")
    parser.add_argument("--size-mb", type=int, default=2048)
    args = parser.parse_args()
    shapes = ("many", "large") if args.shape == "both" else (args.shape,)
    with bench_stack("wado-bench-") as stack:
        results = [
            r for shape in shapes for r in asyncio.run(run_shape(stack, shape, args.size_mb))
        ]
    report("retrieve_memory", results)


if __name__ == "__main__":
    main()
