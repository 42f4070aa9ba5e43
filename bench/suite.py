"""Benchmark suite: ingest, search, retrieve and memory of the service, side by side with the
storage floor (Azurite through the Blob SDK) and, optionally, a peer DICOMweb server.

For each archive size it starts a local stack of its own on free ports, generates the archive
from corpus files with fresh UIDs (see ``bench.archive``), stores it in every server (this is the
ingest measurement), then measures searches and retrieves with ``--clients`` concurrent clients,
and last the host's peak RSS for one large store and one large retrieve (``bench.stow_memory``,
``bench.retrieve_memory``). Prints one Markdown table per size and keeps it as JSON in
``bench/results/``.

    .venv/bin/python -m bench.suite [--instances 1000 10000] [--samples 200] [--clients 4]
        [--parts search retrieve floor memory] [--start-orthanc | --peer URL]
        [--stow-mb 1024] [--retrieve-mb 2048] [--profile DIR] [--workers 1]

``--start-orthanc`` runs Debian's Orthanc as the peer (``devhost.orthanc``; ``make bench``
installs ``orthanc`` and ``orthanc-dicomweb`` when missing); ``--peer`` takes any DICOMweb root on
loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from bench import floor, measure, profile
from bench.archive import make_archive
from bench.calls import Cost, Meter, cost_table
from bench.common import ROOT, bench_stack
from bench.cpu import accounting
from bench.measure import Figure, Figures
from bench.retrieve_memory import run_shape
from bench.stow_memory import run_one
from bench.table import FLOOR, OURS, PEER, markdown
from devhost.orthanc import DICOMWEB_ROOT, running_orthanc
from devhost.stack import LocalStack

# CPU seconds (and "wall" seconds) by phase, then by process.
CpuLog = dict[str, dict[str, float]]
PARTS = ("search", "retrieve", "floor", "memory")
BLOB_SETTING = "DICOMWEB_BLOB_CONNECTION_STRING"


@dataclass(frozen=True)
class Options:
    instances: int
    samples: int = 200
    clients: int = 4
    parts: frozenset[str] = field(default_factory=lambda: frozenset(PARTS))
    stow_mb: int = 1024
    retrieve_mb: int = 2048
    profile: Path | None = None
    workers: int = 1


@contextmanager
def _observed(options: Options, stack: LocalStack, phase: str, cpu: CpuLog) -> Iterator[None]:
    """CPU seconds of each process and wall time of a phase; a py-spy profile if asked for."""
    pids = stack.pids() | {"load generator": os.getpid()}
    output = (
        None if options.profile is None else options.profile / f"{phase}-{options.instances}.txt"
    )
    started = time.perf_counter()
    with (
        accounting(pids) as spent,
        profile.recording(pids["host"], output) if output else nullcontext(),
    ):
        yield
    cpu[phase] = {"wall": round(time.perf_counter() - started, 2), **spent}
    if output is not None:
        print(f"\nprofile of the host during {phase} ({output}):\n{profile.summary(output, ROOT)}")


async def _memory(stack: LocalStack, options: Options) -> Figures:
    """The host's peak RSS over one large store and the retrieves of one large study."""
    stored = await run_one(stack, "many", options.stow_mb)
    if stored.status != 200:
        raise measure.RequestFailed(f"large store answered {stored.status}")
    shape = await run_shape(stack, "many", options.retrieve_mb)
    retrieved = [r for r in shape if r.request != "one frame"]
    if any(r.status != 200 for r in retrieved):
        raise measure.RequestFailed(f"large retrieve answered {[r.status for r in retrieved]}")
    return {
        "stow_peak_rss_mb": Figure(stored.host_peak_rss_mb, 1),
        "retrieve_peak_rss_mb": Figure(max(r.host_peak_rss_mb for r in retrieved), len(retrieved)),
    }


@dataclass
class SuiteResult:
    """Figures by column (ours, peer, floor); CPU seconds by phase and process of our stack;
    what each run cost our host (storage calls and CPU per request or stored instance)."""

    figures: dict[str, Figures]
    cpu: CpuLog
    costs: list[Cost] = field(default_factory=list)


async def run_suite(stack: LocalStack, options: Options, peer: str | None = None) -> SuiteResult:
    """Every figure of one archive size."""
    archive = make_archive(options.instances)
    servers = {OURS: stack.base_url + "/v2"} | ({PEER: peer.rstrip("/")} if peer else {})
    results: dict[str, Figures] = {name: {} for name in servers}
    cpu: CpuLog = {}
    clients, samples = options.clients, options.samples
    meter = Meter(stack.log_dir / "host.log", stack.pids()["host"])

    def observed(name: str, phase: str) -> AbstractContextManager[None]:
        return _observed(options, stack, phase, cpu) if name == OURS else nullcontext()

    def window(name: str) -> measure.Window:
        return meter.window if name == OURS else measure.unobserved

    async with httpx.AsyncClient(timeout=600) as http:
        for name, root in servers.items():
            with observed(name, "ingest"):
                results[name] |= await measure.ingest(http, root, archive, clients, window(name))
        if "floor" in options.parts:
            blobs = stack.env[BLOB_SETTING]
            results[FLOOR] = await floor.measure(blobs, archive, samples, clients)
        if "search" in options.parts:
            for name, root in servers.items():
                with observed(name, "search"):
                    results[name] |= await measure.search(
                        http, root, archive, samples, clients, window(name)
                    )
        if "retrieve" in options.parts:
            for name, root in servers.items():
                with observed(name, "retrieve"):
                    results[name] |= await measure.retrieve(
                        http, root, archive, samples, clients, window(name)
                    )
    if "memory" in options.parts:
        results[OURS] |= await _memory(stack, options)
    return SuiteResult(results, cpu, meter.costs)


def _loopback(url: str) -> str:
    """The URL, if it names a loopback address: the benchmark loads nothing else."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise argparse.ArgumentTypeError(f"{url!r} is not on a loopback address")
    return url


def machine() -> dict[str, object]:
    return {
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def _save(options: Options, result: SuiteResult, seconds: float) -> Path:
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    workers = "" if options.workers == 1 else f"-{options.workers}-workers"
    path = out / f"suite-{options.instances}{workers}.json"
    document = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "options": {
            **{name: value for name, value in asdict(options).items() if name != "profile"},
            "parts": sorted(options.parts),
        },
        "seconds": round(seconds, 1),
        "results": {
            column: {key: asdict(figure) for key, figure in figures.items()}
            for column, figures in result.figures.items()
        },
        "cpu_seconds": result.cpu,
        "costs": [asdict(cost) for cost in result.costs],
    }
    path.write_text(json.dumps(document, indent=2))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[1000])
    parser.add_argument("--samples", type=int, default=200, help="requests per small-request run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    peer = parser.add_mutually_exclusive_group()
    peer.add_argument("--peer", type=_loopback, help="another server's DICOMweb root URL")
    peer.add_argument("--start-orthanc", action="store_true", help="run Orthanc as the peer")
    parser.add_argument("--stow-mb", type=int, default=1024)
    parser.add_argument("--retrieve-mb", type=int, default=2048)
    parser.add_argument("--profile", type=Path, help="record the host with py-spy into DIR")
    parser.add_argument(
        "--workers", type=int, default=1, help="the host's worker processes (1 for --profile)"
    )
    args = parser.parse_args()
    for size in args.instances:
        options = Options(
            instances=size,
            samples=args.samples,
            clients=args.clients,
            parts=frozenset(args.parts),
            stow_mb=args.stow_mb,
            retrieve_mb=args.retrieve_mb,
            profile=args.profile,
            workers=args.workers,
        )
        print(f"archive of {size} instances; machine {machine()}", flush=True)
        started = time.perf_counter()
        with ExitStack() as running:
            stack = running.enter_context(bench_stack("suite-bench-", args.workers))
            peer_url = args.peer
            if args.start_orthanc:
                orthanc = running.enter_context(running_orthanc(name="bench-peer"))
                peer_url = orthanc + DICOMWEB_ROOT
            result = asyncio.run(run_suite(stack, options, peer_url))
        seconds = time.perf_counter() - started
        print(markdown(result.figures, "orthanc" if args.start_orthanc else PEER))
        print(f"\nWhat each run cost our host:\n{cost_table(result.costs)}")
        print(f"\nCPU seconds of our stack by phase: {json.dumps(result.cpu)}")
        print(f"{size} instances in {seconds:.0f} s; kept in {_save(options, result, seconds)}")


if __name__ == "__main__":
    main()
