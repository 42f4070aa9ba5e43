"""Per-request latency with storage as far away as in Azure: how many storage round trips stand
one after another on the path of a store and of a frame retrieve.

Against the local emulators a storage call takes microseconds, so round trips made one after
another cost nothing measurable; in Azure each takes milliseconds. For each delay given, this
starts a stack of its own whose host reaches Azurite and the Cosmos DB emulator through latency
proxies (``bench.latency_proxy``; requests to the host do not pass them), then sends, one at a
time, STOW-RS requests of ten ``CT_small.dcm`` instances with fresh UIDs (a new study each) and
single-frame retrieves of the instances stored. It reports each request's p50 and p95 wall
latency, the storage calls per request the proxies saw (beside the host's own count from its
access log), and how much a request's median grows per millisecond of delay: the number of
round trips it waits for one after another. The background sweep is kept from running, as its
calls are on no request's path. Prints Markdown tables; keeps the figures as JSON in
``bench/results/``.

    .venv/bin/python -m bench.cloud_latency [--latency-ms 0 2 10] [--requests 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import load, measure
from bench.archive import LARGE_TEMPLATE, Instance, make_study
from bench.calls import Cost, Meter
from bench.common import ROOT, StorageProxies, bench_stack, markdown_table
from bench.latency_proxy import Counts
from bench.suite import machine
from devhost.stack import LocalStack

LATENCIES_MS = (0.0, 2.0, 10.0)
REQUESTS = 50
PER_STOW = 10
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
# Once a year: the sweep's calls would land in the per-request counts of whatever runs then.
QUIET_SWEEP = {"DICOMWEB_SWEEP_SCHEDULE": "0 0 0 1 1 *"}


@dataclass(frozen=True)
class Row:
    """One delay's figures, as the table shows them."""

    latency_ms: float
    stow_p50_ms: float
    stow_p95_ms: float
    calls_per_stow: float
    frame_p50_ms: float
    frame_p95_ms: float
    calls_per_frame: float


@dataclass(frozen=True)
class Traffic:
    """Per request of one run: what the proxies saw by store, and what the host counted."""

    latency_ms: float
    request: str
    blob_calls: float
    index_calls: float
    new_connections: float
    host_blob_calls: float
    host_index_calls: float


@dataclass(frozen=True)
class Phase:
    """One run of sequential requests and the proxies' counts over it."""

    name: str
    run: load.Run
    seen: dict[str, Counts]
    host: Cost

    def per_request(self, value: float) -> float:
        return round(value / self.run.count, 2)

    @property
    def calls(self) -> float:
        return self.per_request(sum(counts.requests for counts in self.seen.values()))

    def ms(self, fraction: float) -> float:
        return round(self.run.percentile(fraction) * 1000, 1)

    def traffic(self, latency_ms: float) -> Traffic:
        blob, index = self.seen["blob"], self.seen["index"]
        return Traffic(
            latency_ms,
            self.name,
            self.per_request(blob.requests),
            self.per_request(index.requests),
            self.per_request(blob.connections + index.connections),
            self.host.blob_calls,
            self.host.index_calls,
        )


def _studies(count: int) -> list[list[Instance]]:
    """``count`` new studies of one series of ``PER_STOW`` instances, one STOW request each."""
    return [make_study(n, LARGE_TEMPLATE, [PER_STOW]).instances() for n in range(count)]


def _frame_urls(root: str, studies: list[list[Instance]]) -> list[str]:
    """Frame 1 of one instance of each study, a different position in each."""
    chosen = [study[n % len(study)] for n, study in enumerate(studies)]
    return [
        f"{root}/studies/{i.study}/series/{i.series}/instances/{i.sop}/frames/1" for i in chosen
    ]


async def _phase(
    name: str, requests: list[load.Request], proxies: StorageProxies, meter: Meter
) -> Phase:
    """The requests one at a time; the window settles the host's log after the last, so that
    the counts include anything the host did at the end of it."""
    before = proxies.counts()
    with meter.window(name):
        run = await load.run(requests, clients=1)
    after = proxies.counts()
    seen = {store: after[store] - before[store] for store in after}
    return Phase(name, run, seen, meter.costs[-1])


async def measure_stack(
    stack: LocalStack, proxies: StorageProxies, studies: list[list[Instance]], warm_up: int
) -> tuple[Phase, Phase]:
    """Store every study (the first ``warm_up`` untimed), then retrieve a frame of each."""
    root = stack.base_url + "/v2"
    meter = Meter(stack.log_dir / "host.log", stack.pids()["host"])
    async with httpx.AsyncClient(timeout=120) as http:
        stores = [measure.store(http, root, study) for study in studies]
        await load.run(stores[:warm_up], clients=1)
        stow = await _phase("stow", stores[warm_up:], proxies, meter)
        frames = [measure.get(http, url, FRAME_ACCEPT) for url in _frame_urls(root, studies)]
        await load.run(frames[:warm_up], clients=1)
        frame = await _phase("frame", frames[warm_up:], proxies, meter)
    return stow, frame


def row(latency_ms: float, stow: Phase, frame: Phase) -> Row:
    return Row(
        latency_ms,
        stow.ms(0.5),
        stow.ms(0.95),
        stow.calls,
        frame.ms(0.5),
        frame.ms(0.95),
        frame.calls,
    )


def sequential_round_trips(rows: list[Row]) -> dict[str, float]:
    """How much each request's median grows per millisecond of delay, from the smallest delay
    to the largest: the round trips it waits for one after another."""
    low, high = min(rows, key=lambda r: r.latency_ms), max(rows, key=lambda r: r.latency_ms)
    span = high.latency_ms - low.latency_ms
    if span <= 0:
        return {}
    return {
        "stow": round((high.stow_p50_ms - low.stow_p50_ms) / span, 1),
        "frame": round((high.frame_p50_ms - low.frame_p50_ms) / span, 1),
    }


def _save(document: dict[str, object]) -> Path:
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / "cloud-latency.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def run(latencies_ms: list[float], requests: int) -> tuple[list[Row], list[Traffic]]:
    """Every delay in a stack of its own, with the same generated studies stored in each."""
    warm_up = measure.WARM_UP
    studies = _studies(warm_up + requests)
    rows: list[Row] = []
    traffic: list[Traffic] = []
    for latency_ms in latencies_ms:
        proxies = StorageProxies(latency_ms)
        with bench_stack("cloud-latency-", env=QUIET_SWEEP, proxies=proxies) as stack:
            stow, frame = asyncio.run(measure_stack(stack, proxies, studies, warm_up))
        rows.append(row(latency_ms, stow, frame))
        traffic += [stow.traffic(latency_ms), frame.traffic(latency_ms)]
        print(f"{latency_ms} ms: {rows[-1]}", flush=True)
    return rows, traffic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=list(LATENCIES_MS))
    parser.add_argument("--requests", type=int, default=REQUESTS, help="timed requests of each")
    args = parser.parse_args()
    print(f"machine {machine()}", flush=True)
    started = time.perf_counter()
    rows, traffic = run(args.latency_ms, args.requests)
    seconds = time.perf_counter() - started
    waited = sequential_round_trips(rows)
    print(markdown_table(rows))
    print("\nStorage calls per request, through the proxies and by the host:\n")
    print(markdown_table(traffic))
    print(f"\nMedian growth per ms of delay (round trips one after another): {waited}")
    document = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "options": {"latency_ms": args.latency_ms, "requests": args.requests},
        "seconds": round(seconds, 1),
        "rows": [asdict(r) for r in rows],
        "traffic": [asdict(t) for t in traffic],
        "sequential_round_trips": waited,
    }
    print(f"in {seconds:.0f} s; kept in {_save(document)}")


if __name__ == "__main__":
    main()
