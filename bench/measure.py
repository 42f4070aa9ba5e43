"""The DICOMweb measurements, run the same way against any server's DICOMweb root: ingest of the
archive, the searches a viewer sends, and retrieves of instances, frames, metadata and a study.

A failed request stops the run with the server's answer: a figure over failures means nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import httpx

from bench import load
from bench.archive import Archive, Instance, multipart
from bench.common import CONTENT_TYPE

DICOM_JSON = "application/dicom+json"
AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
# The files are stored native, so the default (Explicit VR Little Endian) needs no conversion.
FRAME = 'multipart/related; type="application/octet-stream"'
# What OHIF sends for its study list.
STUDY_LIST = "/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030,00080060"
WARM_UP = 3


@dataclass(frozen=True)
class Figure:
    value: float
    samples: int


Figures = dict[str, Figure]


class RequestFailed(RuntimeError):
    pass


Window = Callable[[str, int | None], AbstractContextManager[None]]
"""Opened around each run by name, with the instances per request of a store: what the server
spent in it (``bench.calls.Meter.window``); the suite's for our server, nothing for others."""


def unobserved(_name: str, _instances_per_request: int | None) -> AbstractContextManager[None]:
    return nullcontext()


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        raise RequestFailed(
            f"{what}: {response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text[:300]}"
        )


def store(http: httpx.AsyncClient, root: str, instances: list[Instance]) -> load.Request:
    body = multipart(instances)
    headers = {"Content-Type": CONTENT_TYPE, "Accept": DICOM_JSON}

    async def send() -> int:
        response = await http.post(f"{root}/studies", content=body, headers=headers)
        _check(response, "store")
        return sum(len(i.data) for i in instances)

    return send


def get(http: httpx.AsyncClient, url: str, accept: str) -> load.Request:
    async def send() -> int:
        received = 0
        async with http.stream("GET", url, headers={"Accept": accept}) as response:
            if response.status_code != 200:
                await response.aread()
                _check(response, "retrieve")
            async for chunk in response.aiter_raw():
                received += len(chunk)
        return received

    return send


def throughput(prefix: str, run: load.Run, per_request: int) -> Figures:
    """Instances and megabytes per second of a run of ``per_request``-instance requests."""
    return {
        f"{prefix}_ips": Figure(run.per_second * per_request, run.count),
        f"{prefix}_mbps": Figure(run.mb_per_second, run.count),
    }


def latency(prefix: str, run: load.Run) -> Figures:
    return {
        f"{prefix}_p50_ms": Figure(run.percentile(0.5) * 1000, run.count),
        f"{prefix}_p95_ms": Figure(run.percentile(0.95) * 1000, run.count),
        f"{prefix}_rps": Figure(run.per_second, run.count),
    }


async def ingest(
    http: httpx.AsyncClient,
    root: str,
    archive: Archive,
    clients: int,
    window: Window = unobserved,
) -> Figures:
    """Store the whole archive, run by run (``Archive.runs``)."""
    figures: Figures = {}
    for name, ingest_run in archive.runs.items():
        size = ingest_run.per_request
        with window(f"ingest_{name}", size):
            run = await load.run([store(http, root, r) for r in ingest_run.requests], clients)
        figures |= throughput(f"ingest_{name}", run, size)
        figures |= {
            f"ingest_{name}_p50_ms": Figure(run.percentile(0.5) * 1000, run.count),
            f"ingest_{name}_p95_ms": Figure(run.percentile(0.95) * 1000, run.count),
        }
    return figures


def heavy_samples(samples: int) -> int:
    """Samples of a whole-study retrieve: fewer than of small requests, never under three."""
    return max(3, samples // 20)


def _cycle(urls: list[str], count: int) -> Iterator[str]:
    return itertools.islice(itertools.cycle(urls), count)


async def timed_gets(
    http: httpx.AsyncClient, urls: list[str], accept: str, samples: int, clients: int
) -> load.Run:
    """``samples`` GETs cycling through ``urls``, after a few untimed ones."""
    await load.run([get(http, u, accept) for u in _cycle(urls, WARM_UP)], clients)
    return await load.run([get(http, u, accept) for u in _cycle(urls, samples)], clients)


def search_urls(root: str, archive: Archive) -> dict[str, tuple[list[str], str]]:
    """The searches measured, each a list of URLs to cycle through."""
    small = archive.small
    return {
        "study_list": ([root + STUDY_LIST], DICOM_JSON),
        "patient_id": ([f"{root}/studies?PatientID={s.patient_id}" for s in small], DICOM_JSON),
        "study_series": ([f"{root}/studies/{s.uid}/series" for s in small], DICOM_JSON),
        "series_instances": (
            [
                f"{root}/studies/{s.uid}/series/{series}/instances"
                for s in small
                for series in s.series
            ],
            DICOM_JSON,
        ),
    }


async def search(
    http: httpx.AsyncClient,
    root: str,
    archive: Archive,
    samples: int,
    clients: int,
    window: Window = unobserved,
) -> Figures:
    figures: Figures = {}
    for name, (urls, accept) in search_urls(root, archive).items():
        with window(name, None):
            run = await timed_gets(http, urls, accept, samples, clients)
        figures |= latency(name, run)
    return figures


def _instance_url(root: str, i: Instance) -> str:
    return f"{root}/studies/{i.study}/series/{i.series}/instances/{i.sop}"


async def retrieve(
    http: httpx.AsyncClient,
    root: str,
    archive: Archive,
    samples: int,
    clients: int,
    window: Window = unobserved,
) -> Figures:
    """Instances and frames of the small studies; metadata and the whole of the large study."""
    instances = [i for s in archive.small for i in s.instances()]
    instance_urls = [_instance_url(root, i) for i in instances]
    frame_urls = [f"{url}/frames/1" for url in instance_urls]
    large = archive.large
    (series,) = large.series
    metadata_url = f"{root}/studies/{large.uid}/series/{series}/metadata"
    runs = {
        "instance": (instance_urls, AS_STORED, samples),
        "frame": (frame_urls, FRAME, samples),
        "series_metadata": ([metadata_url], DICOM_JSON, max(3, samples // 5)),
        "study": ([f"{root}/studies/{large.uid}"], AS_STORED, heavy_samples(samples)),
    }
    figures: Figures = {}
    for name, (urls, accept, count) in runs.items():
        with window(name, None):
            run = await timed_gets(http, urls, accept, count, clients)
        if name == "study":
            figures["study_mbps"] = Figure(run.mb_per_second, run.count)
        else:
            figures |= latency(name, run)
    return figures
