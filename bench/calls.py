"""What each operation costs our host: storage calls per request (index and blob, read from the
host's access log, which counts them per request; see ``shared.storage.calls``) and the host's
CPU milliseconds, per request or per stored instance.

The suite opens one window per run of requests (``Meter.window``): everything the host logged
and spent between its start and end is that run's, warm-up requests included, which are the
same requests.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import tree_seconds

_ACCESS = re.compile(
    r"devhost\.access: (?P<method>\S+) (?P<route>\S+) (?P<status>\S+) [\d.]+ ms "
    r"request=\S+ index=(?P<index>\d+) blob=(?P<blob>\d+)$"
)


@dataclass(frozen=True)
class Calls:
    """Requests seen and the storage calls they made in all."""

    requests: int = 0
    index: int = 0
    blob: int = 0

    def __add__(self, other: Calls) -> Calls:
        return Calls(
            self.requests + other.requests, self.index + other.index, self.blob + other.blob
        )


def calls_in(log_text: str) -> Calls:
    """The requests of an access log's lines and their storage calls; other lines are skipped."""
    total = Calls()
    for line in log_text.splitlines():
        match = _ACCESS.search(line)
        if match is not None:
            total += Calls(1, int(match["index"]), int(match["blob"]))
    return total


@dataclass(frozen=True)
class Cost:
    """One run's cost per unit (a request, or a stored instance for ingest)."""

    name: str
    unit: str
    units: int
    requests: int
    index_calls: float
    blob_calls: float
    host_cpu_ms: float


class Meter:
    """Reads the host's log and CPU time around each run of requests."""

    def __init__(self, host_log: Path, host_pid: int) -> None:
        self._log = host_log
        self._pid = host_pid
        self.costs: list[Cost] = []

    @contextmanager
    def window(self, name: str, instances_per_request: int | None = None) -> Iterator[None]:
        """Measure the block as run ``name``: per request, or per stored instance when its
        requests store ``instances_per_request`` each."""
        offset = self._log.stat().st_size
        cpu = tree_seconds(self._pid)
        yield
        self._settle()
        spent = tree_seconds(self._pid) - cpu
        with self._log.open("rb") as log:
            log.seek(offset)
            seen = calls_in(log.read().decode("utf-8", "replace"))
        units = seen.requests * (instances_per_request or 1)
        if units == 0:
            return
        self.costs.append(
            Cost(
                name=name,
                unit="request" if instances_per_request is None else "stored instance",
                units=units,
                requests=seen.requests,
                index_calls=round(seen.index / units, 2),
                blob_calls=round(seen.blob / units, 2),
                host_cpu_ms=round(spent * 1000 / units, 2),
            )
        )

    def _settle(self, quiet: float = 0.05, longest: float = 2.0) -> None:
        """Wait for the log to stop growing: the host writes a request's line after the client
        has read its answer, so the last lines of a run may still be on their way."""
        deadline = time.monotonic() + longest
        size = self._log.stat().st_size
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self._log.stat().st_size
            if now == size:
                return
            size = now


def cost_table(costs: list[Cost]) -> str:
    """The costs as a Markdown table."""
    lines = [
        "| run | unit | units | index calls | blob calls | host CPU ms |",
        "|---|---|---|---|---|---|",
    ]
    for c in costs:
        lines.append(
            f"| {c.name} | {c.unit} | {c.units} | {c.index_calls} | {c.blob_calls} "
            f"| {c.host_cpu_ms} |"
        )
    return "\n".join(lines)
