"""CPU seconds each process of the stack spent during a phase: with two cores shared by the load
generator, the host and both emulators, this says which of them a phase waits on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import psutil


def _seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@contextmanager
def accounting(pids: Mapping[str, int]) -> Iterator[dict[str, float]]:
    """Yields a dictionary that, once the block ends, holds each process's CPU seconds in it."""
    processes = {name: psutil.Process(pid) for name, pid in pids.items()}
    before = {name: _seconds(p) for name, p in processes.items()}
    spent: dict[str, float] = {}
    yield spent
    spent.update({name: round(_seconds(p) - before[name], 2) for name, p in processes.items()})
