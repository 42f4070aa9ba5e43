"""The storage floor: the archive's bytes written and read straight through `azure-storage-blob`
(aio), against the same Azurite the service uses, with the same number of clients and the same
grouping as the service's requests. No server does better than its storage, so the service's
ingest and whole-study figures are given as a fraction of these.

The client is set up as the service's is (no per-request look-up of proxy settings in the
environment, see ``shared.clients``). The blobs go to a container of their own, removed at
the end.
"""

from __future__ import annotations

import asyncio
import uuid

from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from bench import load
from bench.archive import Archive, Instance
from bench.measure import WARM_UP, Figure, Figures, heavy_samples, throughput


def _writer(container: ContainerClient, instances: list[Instance]) -> load.Request:
    """Upload a request's instances, one blob each, at the same time."""

    async def send() -> int:
        await asyncio.gather(
            *(container.upload_blob(i.sop, i.data, overwrite=True) for i in instances)
        )
        return sum(len(i.data) for i in instances)

    return send


def _reader(container: ContainerClient, instances: list[Instance]) -> load.Request:
    """Download every instance of a study in turn, as one whole-study retrieve reads them."""

    async def send() -> int:
        received = 0
        for instance in instances:
            stream = await container.download_blob(instance.sop)
            async for chunk in stream.chunks():
                received += len(chunk)
        return received

    return send


async def measure(connection_string: str, archive: Archive, samples: int, clients: int) -> Figures:
    """Write the archive as the ingest does; read the large study as its retrieve does."""
    service = BlobServiceClient.from_connection_string(connection_string, use_env_settings=False)
    name = f"bench-floor-{uuid.uuid4().hex[:12]}"
    async with service:
        container = await service.create_container(name)
        try:
            figures: Figures = {}
            for run_name, ingest_run in archive.runs.items():
                writers = [_writer(container, r) for r in ingest_run.requests]
                run = await load.run(writers, clients)
                figures |= throughput(f"ingest_{run_name}", run, ingest_run.per_request)
            read = _reader(container, archive.large.instances())
            await load.run([read] * WARM_UP, clients)
            run = await load.run([read] * heavy_samples(samples), clients)
            figures["study_mbps"] = Figure(run.mb_per_second, run.count)
            return figures
        finally:
            await service.delete_container(name)
