"""``python -m tests.fuzz`` (``make fuzz``): the long fuzzing run, with its counts.

Starts its own local stack on free ports, stores the corpus once, then sends ``--stores`` damaged
STOW-RS requests, ``--retrieves`` and ``--searches`` malformed reads and ``--deletes`` deletes,
drawn by the strategies ``test_http_surface`` uses. It prints the requests sent per kind, the
status codes, the 5xx count (which must be 0), and what ``verify`` finds afterwards: index and
blob storage must agree, so every store a failed request left committed is visible to search.
Exits 1 on any 5xx or finding.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from devhost.stack import LocalStack, clients_of
from shared.services.verify import verify
from tests.conftest import MAX_REQUEST_BYTES, ROOT
from tests.fuzz.requests import STRATEGIES, Pool
from tests.fuzz.surface import Tally, seed, send


def _run(kind: str, count: int, client: httpx.Client, pool: Pool, tally: Tally) -> None:
    """``count`` examples of one kind; a 5xx is recorded, not raised, so the run goes on."""
    if count <= 0:
        return

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def property_(data: st.DataObject) -> None:
        send(client, data.draw(STRATEGIES[kind](pool)), tally, pool)

    started = time.monotonic()
    property_()
    print(f"{kind}: {tally.sent[kind]} in {time.monotonic() - started:.0f} s", flush=True)


async def _findings(stack: LocalStack) -> Counter[str]:
    async with clients_of(stack) as clients:
        report = await verify(clients, repair=False)
    return Counter(finding.kind for finding in report.findings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--stores", type=int, default=5000)
    parser.add_argument("--retrieves", type=int, default=5000)
    parser.add_argument("--searches", type=int, default=5000)
    parser.add_argument("--deletes", type=int, default=1000)
    parser.add_argument(
        "--data-dir", type=Path, help="keep the stack's data and logs here (default: discarded)"
    )
    parser.add_argument(
        "--failures", type=Path, help="write the requests that got a 5xx here (pickled)"
    )
    args = parser.parse_args(argv)
    tally = Tally()
    pool = Pool()
    with tempfile.TemporaryDirectory() as scratch:
        stack = LocalStack(ROOT, args.data_dir or Path(scratch))
        stack.env["DICOMWEB_MAX_REQUEST_BYTES"] = str(MAX_REQUEST_BYTES)
        with stack, httpx.Client(base_url=stack.base_url, timeout=120) as client:
            seed(client, pool)
            # Stores first, so that reads and deletes meet what the damaged stores left.
            for kind, count in (
                ("store", args.stores),
                ("retrieve", args.retrieves),
                ("search", args.searches),
                ("delete", args.deletes),
            ):
                _run(kind, count, client, pool, tally)
            findings = asyncio.run(_findings(stack))
    print(tally.report())
    for line in sorted(Counter(tally.server_errors).items()):
        print(f"  {line[1]} x {line[0]}")
    for request in tally.failed:
        print(f"  {request.method} {request.path[:120]} {request.params[:3]} {request.headers}")
    if args.failures is not None:
        args.failures.write_bytes(pickle.dumps(tally.failed))
    print(f"instances stored and retrievable: {len(pool.instances)}")
    print(f"verify findings: {sum(findings.values())} ({dict(findings)})")
    return 1 if tally.server_errors or findings else 0


if __name__ == "__main__":
    sys.exit(main())
