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
import time
from dataclasses import dataclass

import httpx
import psutil

from bench.common import CONTENT_TYPE, FRAME, RssSampler, bench_stack, multipart_body, report
from devhost.stack import LocalStack


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
                content=multipart_body(instances, frames),
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
    with bench_stack("stow-bench-") as stack:
        results = [asyncio.run(run_one(stack, shape, args.size_mb)) for shape in shapes]
    report("stow_memory", results)


if __name__ == "__main__":
    main()
