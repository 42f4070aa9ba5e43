"""CPU seconds each process of the stack spent during a phase: with two cores shared by the load
generator, the host and both emulators, this says which of them a phase waits on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import psutil


def _seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def tree_seconds(pid: int) -> float:
    """CPU seconds of a process and of its live children: the host's worker processes, when it
    runs several, are its children."""
    process = psutil.Process(pid)
    total = _seconds(process)
    for child in process.children(recursive=True):
        try:
            total += _seconds(child)
        except psutil.NoSuchProcess:
            continue
    return total


@contextmanager
def accounting(
    pids: Mapping[str, int], with_children: frozenset[str] = frozenset({"host"})
) -> Iterator[dict[str, float]]:
    """Yields a dictionary that, once the block ends, holds each process's CPU seconds in it;
    those named in ``with_children`` count their children too."""

    def seconds(name: str) -> float:
        pid = pids[name]
        return tree_seconds(pid) if name in with_children else _seconds(psutil.Process(pid))

    before = {name: seconds(name) for name in pids}
    spent: dict[str, float] = {}
    yield spent
    spent.update({name: round(seconds(name) - before[name], 2) for name in pids})
