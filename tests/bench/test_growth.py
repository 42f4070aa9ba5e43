"""The growth benchmark at a tiny size against the test stack, so that its code cannot rot: each
step stores its studies (they are then found) and reports a rate, latencies and every process's
CPU seconds. No figure is compared with any bound."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bench.growth import HEADER, PROCESSES, measure_growth, row
from devhost.stack import LocalStack

BENCH_STUDIES = {"PatientID": "BENCH*", "limit": "200"}


@pytest.mark.integration
async def test_each_step_stores_its_studies_and_reports_its_figures(stack: LocalStack) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        before = await http.get(f"{stack.base_url}/v2/studies", params=BENCH_STUDIES)
    steps = await measure_growth(stack, 40, 20, 2)

    assert [s.stored for s in steps] == [20, 40]
    for step in steps:
        assert step.per_second > 0 and 0 < step.p50_ms <= step.p95_ms
        assert set(step.cpu) == set(PROCESSES) and all(s >= 0 for s in step.cpu.values())
        assert row(step).count("|") == HEADER.splitlines()[0].count("|")
    async with httpx.AsyncClient(timeout=60) as http:
        after = await http.get(f"{stack.base_url}/v2/studies", params=BENCH_STUDIES)
    assert after.status_code == 200
    found = len(after.json()) - (len(before.json()) if before.status_code == 200 else 0)
    assert found == 4, "four studies of ten instances stored"


def test_a_step_is_whole_studies_dividing_the_instances() -> None:
    for instances, step in ((40, 15), (40, 0), (50, 20)):
        with pytest.raises(ValueError, match="multiple of 10"):
            asyncio.run(measure_growth(None, instances, step, 1))  # type: ignore[arg-type]
