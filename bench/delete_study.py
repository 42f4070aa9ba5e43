"""Delete benchmark: how long DELETE of one large study takes, end to end through the host.

Starts its own local stack on free ports, stores ``--instances`` small instances into one study
(100 per request, 4 requests at a time), then times ``DELETE /v2/studies/{study}`` (204, or 202
once the inline time is up), checks the study is gone for readers at once, and times the
background sweep until the operation has succeeded.

    .venv/bin/python -m bench.delete_study [--instances 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from pydicom.uid import generate_uid

from bench.common import BOUNDARY, CONTENT_TYPE, bench_stack, instance_chunks

PER_REQUEST = 100
# Seconds the operation is watched for before the benchmark gives up.
POLL_LIMIT = 3600
CONCURRENCY = 4


def _body(study: str, series: str, count: int) -> bytes:
    """``count`` tiny instances (8 x 8 pixels) of one series, as one multipart body."""
    parts = [
        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + b"".join(instance_chunks(study, series, frames=1, rows=8))
        + b"\r\n"
        for _ in range(count)
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def run(base_url: str, instances: int) -> None:
    study = generate_uid()
    series = [generate_uid() for _ in range(10)]
    requests = [min(PER_REQUEST, instances - start) for start in range(0, instances, PER_REQUEST)]
    semaphore = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=3600) as http:

        async def store(n: int, count: int) -> None:
            async with semaphore:
                body = _body(study, series[n % len(series)], count)
                response = await http.post(
                    "/v2/studies", content=body, headers={"Content-Type": CONTENT_TYPE}
                )
                assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(store(n, c) for n, c in enumerate(requests)))
        stored = time.perf_counter() - started
        print(f"stored {instances} instances in {stored:.1f} s ({instances / stored:.0f}/s)")

        started = time.perf_counter()
        response = await http.delete(f"/v2/studies/{study}")
        answered = time.perf_counter() - started
        print(f"DELETE study of {instances} instances: {response.status_code} in {answered:.1f} s")
        gone = await http.get(f"/v2/studies/{study}/metadata")
        print(f"study metadata right after the DELETE: {gone.status_code}")
        if response.status_code == 202:
            href = response.headers["location"]
            for _ in range(POLL_LIMIT):
                if (await http.get(href)).json()["status"] == "succeeded":
                    break
                await asyncio.sleep(1)
            finished = time.perf_counter() - started
            print(
                f"background sweep finished {finished:.1f} s after the DELETE "
                f"({instances / finished:.0f} instances/s overall)"
            )
        again = await http.delete(f"/v2/studies/{study}")
        print(f"second DELETE: {again.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    args = parser.parse_args()
    with bench_stack("delete-bench-") as stack:
        asyncio.run(run(stack.base_url, args.instances))


if __name__ == "__main__":
    main()
