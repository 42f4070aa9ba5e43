"""Ingest as the archive grows: small studies stored ten instances per request in steps, each step's
rate, latencies and CPU seconds of each process of the stack.

The suite measures each archive size in a fresh stack, so a cost that grows with what is already
stored shows there only as a slower size. Here every step stores the same kind of requests into
one stack, so such a cost shows in the step where it starts and in the process that pays it.

Command: `.venv/bin/python -m bench.growth --instances 50000 --step 5000` (a fresh stack; rows
are printed as the steps end).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass

import httpx

from bench import load
from bench.archive import SERIES_PER_SMALL_STUDY, SMALL_SERIES, SMALL_TEMPLATES, make_study
from bench.common import bench_stack
from bench.cpu import accounting
from bench.measure import store
from devhost.stack import LocalStack

PER_STUDY = SMALL_SERIES * SERIES_PER_SMALL_STUDY
PROCESSES = ("host", "azurite", "cosmos", "load generator")


@dataclass(frozen=True)
class Step:
    """One step: ``stored`` instances in the archive once it ended."""

    stored: int
    per_second: float
    p50_ms: float
    p95_ms: float
    cpu: dict[str, float]


async def _step(
    http: httpx.AsyncClient, root: str, first: int, size: int, clients: int
) -> load.Run:
    """Store ``size`` instances as new studies (patients from ``first`` on), one per request."""
    series = [SMALL_SERIES] * SERIES_PER_SMALL_STUDY
    studies = [
        make_study(first + n, SMALL_TEMPLATES[(first + n) % 2], series)
        for n in range(size // PER_STUDY)
    ]
    return await load.run([store(http, root, s.instances()) for s in studies], clients)


async def measure_growth(stack: LocalStack, instances: int, step: int, clients: int) -> list[Step]:
    """Store ``instances`` in steps of ``step`` (both whole studies), printing each step's row."""
    if step <= 0 or step % PER_STUDY or instances % step:
        raise ValueError(f"the step is a positive multiple of {PER_STUDY} dividing the instances")
    root = stack.base_url + "/v2"
    pids = stack.pids() | {"load generator": os.getpid()}
    steps: list[Step] = []
    async with httpx.AsyncClient(timeout=600) as http:
        for stored in range(step, instances + 1, step):
            with accounting(pids) as spent:
                run = await _step(http, root, (stored - step) // PER_STUDY + 1, step, clients)
            steps.append(
                Step(
                    stored,
                    step / run.seconds,
                    run.percentile(0.5) * 1000,
                    run.percentile(0.95) * 1000,
                    {name: spent[name] for name in PROCESSES},
                )
            )
            print(row(steps[-1]), flush=True)
    return steps


HEADER = (
    "| stored | instances/s | p50 ms | p95 ms | CPU s: " + " | ".join(PROCESSES) + " |\n"
    "|---|---|---|---|" + "---|" * len(PROCESSES)
)


def row(step: Step) -> str:
    cells = [f"{step.stored}", f"{step.per_second:.1f}", f"{step.p50_ms:.0f}", f"{step.p95_ms:.0f}"]
    cells += [f"{step.cpu[name]:.1f}" for name in PROCESSES]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50000)
    parser.add_argument("--step", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    print(HEADER, flush=True)
    with bench_stack("growth-bench-") as stack:
        asyncio.run(measure_growth(stack, args.instances, args.step, args.clients))


if __name__ == "__main__":
    main()
