"""Export benchmark: a 2 GB study exported into a container, the host's RSS sampled meanwhile.

Starts its own local stack on free ports (exports working inline for up to 10 minutes, so the
request does the whole export), stores a generated study of 16 MB instances with STOW-RS
(streamed, as in ``bench.retrieve_memory``), makes a destination container in the same Azurite
and exports the study, sampling the host's and Azurite's resident set sizes until the operation
completes. The copies are Blob Storage's own (Copy Blob), so the host's RSS should not move with
the size of the study.

    .venv/bin/python -m bench.export_memory [--size-mb 2048]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
from azure.storage.blob.aio import BlobServiceClient

from bench.common import FRAME, RssSampler, bench_stack, report
from bench.retrieve_memory import _store
from devhost.stack import LocalStack

FRAMES = 8  # 16 MB instances


@dataclass
class Result:
    instances: int
    megabytes: float
    seconds: float
    mb_per_s: float
    status: str
    exported: int
    host_rss_before_mb: float
    host_peak_rss_mb: float
    azurite_peak_rss_mb: float


async def _finished(http: httpx.AsyncClient, href: str) -> dict[str, Any]:
    """The operation once it is no longer running."""
    while True:
        status: dict[str, Any] = (await http.get(href)).json()
        if status["status"] != "running":
            return status
        await asyncio.sleep(0.5)


async def run(stack: LocalStack, size_mb: int) -> Result:
    instances = max(1, size_mb * 1024 * 1024 // (FRAME * FRAMES))
    host = psutil.Process(stack.pids()["host"])
    connection = stack.env["DICOMWEB_BLOB_CONNECTION_STRING"]
    async with (
        httpx.AsyncClient(base_url=stack.base_url, timeout=3600) as http,
        BlobServiceClient.from_connection_string(connection) as blobs,
    ):
        study_url, _ = await _store(http, instances, FRAMES)
        study = study_url.rstrip("/").rsplit("/", 1)[1]
        name = f"export-{uuid.uuid4().hex[:12]}"
        await blobs.create_container(name)
        destination = f"{blobs.url.rstrip('/')}/{name}"
        body = {
            "source": {"type": "identifiers", "settings": {"values": [study]}},
            "destination": {"type": "azureblob", "settings": {"blobContainerUri": destination}},
        }
        before = host.memory_info().rss
        with RssSampler(host.pid) as sampler, RssSampler(stack.pids()["azurite"]) as azurite:
            started = time.perf_counter()
            response = await http.post("/v2/export", json=body)
            response.raise_for_status()
            status = await _finished(http, response.json()["href"])
            seconds = time.perf_counter() - started
    megabytes = instances * (FRAME * FRAMES) / 1e6
    return Result(
        instances=instances,
        megabytes=round(megabytes, 1),
        seconds=round(seconds, 2),
        mb_per_s=round(megabytes / seconds, 1),
        status=status["status"],
        exported=status["results"]["exported"],
        host_rss_before_mb=round(before / 2**20, 1),
        host_peak_rss_mb=round(sampler.peak / 2**20, 1),
        azurite_peak_rss_mb=round(azurite.peak / 2**20, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2048)
    args = parser.parse_args()
    inline = {"DICOMWEB_EXPORT_INLINE_SECONDS": "600"}
    with bench_stack("export-bench-", env=inline) as stack:
        result = asyncio.run(run(stack, args.size_mb))
    report("export_memory", [result])


if __name__ == "__main__":
    main()
