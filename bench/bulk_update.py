"""Bulk update benchmark: a study's Patient ID and name changed, timed, the host's CPU and RSS
measured meanwhile.

Starts its own local stack on free ports (updates working inline for up to 10 minutes, so the
request does the whole update), then, for each shape, stores a study with STOW-RS and updates it:
``small``, 500 ``CT_small.dcm`` instances (39 kB) in one series, as ``bench.archive`` makes them;
``large``, a 1 GB study of 16 MB instances (``bench.retrieve_memory``'s), where only each file's
head is read and written again and the pixel data is copied in ranged reads, so the host's RSS
should not move with the size of an instance.

    .venv/bin/python -m bench.bulk_update [--small 500] [--large-mb 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import psutil

from bench.archive import make_study, multipart
from bench.common import CONTENT_TYPE, FRAME, RssSampler, bench_stack, report
from bench.retrieve_memory import _store
from devhost.stack import LocalStack

FRAMES = 8  # 16 MB instances
CHANGE = {
    "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Fixed^Name"}]},
    "00100020": {"vr": "LO", "Value": ["FIXED-ID"]},
}


@dataclass
class Result:
    shape: str
    instances: int
    megabytes: float
    seconds: float
    instances_per_s: float
    host_cpu_ms_per_instance: float
    host_rss_before_mb: float
    host_peak_rss_mb: float
    instance_updated: int


async def _finished(http: httpx.AsyncClient, href: str) -> dict[str, Any]:
    while True:
        response = await http.get(href)
        status: dict[str, Any] = response.json()
        if status["status"] != "running":
            return status
        await asyncio.sleep(0.2)


async def _store_small(http: httpx.AsyncClient, instances: int) -> tuple[str, float]:
    """A study of ``instances`` small CT instances; its UID and size in MB."""
    study = make_study(0, "CT_small.dcm", [instances])
    members = study.instances()
    for start in range(0, len(members), 50):
        response = await http.post(
            "/v2/studies",
            content=multipart(members[start : start + 50]),
            headers={"Content-Type": CONTENT_TYPE},
        )
        response.raise_for_status()
    return study.uid, sum(len(i.data) for i in members) / 1e6


async def _measure(
    stack: LocalStack, http: httpx.AsyncClient, shape: str, study: str, instances: int, mb: float
) -> Result:
    host = psutil.Process(stack.pids()["host"])
    before_rss = host.memory_info().rss
    before_cpu = host.cpu_times()
    body = {"studyInstanceUids": [study], "changeDataset": CHANGE}
    with RssSampler(host.pid) as sampler:
        started = time.perf_counter()
        response = await http.post("/v2/studies/$bulkUpdate", json=body)
        response.raise_for_status()
        status = await _finished(http, response.json()["href"])
        seconds = time.perf_counter() - started
    after_cpu = host.cpu_times()
    cpu = (after_cpu.user - before_cpu.user) + (after_cpu.system - before_cpu.system)
    return Result(
        shape=shape,
        instances=instances,
        megabytes=round(mb, 1),
        seconds=round(seconds, 2),
        instances_per_s=round(instances / seconds, 1),
        host_cpu_ms_per_instance=round(1000 * cpu / instances, 1),
        host_rss_before_mb=round(before_rss / 2**20, 1),
        host_peak_rss_mb=round(sampler.peak / 2**20, 1),
        instance_updated=int(status["results"]["instanceUpdated"]),
    )


async def run(stack: LocalStack, small: int, large_mb: int) -> list[Result]:
    results = []
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=3600) as http:
        study, mb = await _store_small(http, small)
        results.append(await _measure(stack, http, "small", study, small, mb))
        large = max(1, large_mb * 1024 * 1024 // (FRAME * FRAMES))
        study_url, _ = await _store(http, large, FRAMES)
        study = study_url.rstrip("/").rsplit("/", 1)[1]
        mb = large * FRAME * FRAMES / 1e6
        results.append(await _measure(stack, http, "large", study, large, mb))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large-mb", type=int, default=1024)
    args = parser.parse_args()
    inline = {"DICOMWEB_UPDATE_INLINE_SECONDS": "600"}
    with bench_stack("update-bench-", env=inline) as stack:
        results = asyncio.run(run(stack, args.small, args.large_mb))
    report("bulk_update", results)


if __name__ == "__main__":
    main()
