"""Rendered and thumbnail benchmark: a study list of 100 thumbnails, and one frame of a long
multi-frame instance.

Starts its own local stack on free ports and stores 100 studies of one generated 512 x 512
16-bit instance each. Their study thumbnails are then fetched the way a browser shows a study
list (six requests at a time) three times: cold (each thumbnail rendered and cached), warm (read
from the cache) and revalidated (``If-None-Match``, answered 304). Then an instance of 2,000
frames of 256 x 256 is stored and frames 1, 17 and 2000 are rendered, each reading only its own
frame.

    .venv/bin/python -m bench.thumbnails [--studies 100] [--frames 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

import httpx
from pydicom.uid import generate_uid

from bench.common import CONTENT_TYPE, bench_stack, multipart_body, report

BROWSER_CONNECTIONS = 6


@dataclass
class Result:
    request: str
    count: int
    seconds: float
    ms_per_request: float
    statuses: str


async def _store(http: httpx.AsyncClient, frames: int, rows: int) -> str:
    """Store one generated instance in a study of its own; return the instance's URL."""
    response = await http.post(
        "/v2/studies",
        content=multipart_body(1, frames, study=generate_uid(), rows=rows),
        headers={"Content-Type": CONTENT_TYPE, "Accept": "application/dicom+json"},
    )
    response.raise_for_status()
    url: str = response.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
    return url


async def _fetch_all(
    http: httpx.AsyncClient, name: str, urls: list[str], tags: dict[str, str] | None = None
) -> tuple[Result, dict[str, str]]:
    semaphore = asyncio.Semaphore(BROWSER_CONNECTIONS)
    statuses: dict[int, int] = {}
    found: dict[str, str] = {}

    async def one(url: str) -> None:
        async with semaphore:
            headers = {"If-None-Match": tags[url]} if tags else {}
            response = await http.get(url, headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            found[url] = response.headers.get("etag", "")

    started = time.perf_counter()
    await asyncio.gather(*(one(u) for u in urls))
    seconds = time.perf_counter() - started
    shown = ", ".join(f"{n}x{code}" for code, n in sorted(statuses.items()))
    result = Result(name, len(urls), round(seconds, 3), round(1000 * seconds / len(urls), 1), shown)
    return result, found


async def _timed(http: httpx.AsyncClient, name: str, url: str) -> Result:
    started = time.perf_counter()
    response = await http.get(url)
    seconds = time.perf_counter() - started
    return Result(name, 1, round(seconds, 3), round(1000 * seconds, 1), str(response.status_code))


async def run(studies: int, frames: int) -> list[Result]:
    with bench_stack("bench-thumbnails-") as stack:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=600) as http:
            instances = [await _store(http, 1, 512) for _ in range(studies)]
            thumbnails = [f"{u.split('/series/')[0]}/thumbnail" for u in instances]
            cold, tags = await _fetch_all(http, "study thumbnails, cold", thumbnails)
            warm, _ = await _fetch_all(http, "study thumbnails, cached", thumbnails)
            revalidated, _ = await _fetch_all(
                http, "study thumbnails, If-None-Match", thumbnails, tags
            )
            results = [cold, warm, revalidated]
            long_instance = await _store(http, frames, 256)
            for number in (1, 17, frames):
                url = f"{long_instance}/frames/{number}/rendered"
                results.append(await _timed(http, f"frame {number} of {frames}, rendered", url))
            return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=100)
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    report("thumbnails", asyncio.run(run(args.studies, args.frames)))


if __name__ == "__main__":
    main()
