"""The benchmark suite at a tiny size against the test stack, so that its code cannot rot: every
figure it reports must be there and positive. No figure is compared with any bound."""

from __future__ import annotations

import pytest

from bench.suite import Options, run_suite
from bench.table import FLOOR, FLOOR_METRICS, METRICS, OURS, markdown
from devhost.stack import LocalStack

pytestmark = pytest.mark.integration

# The smallest sizes at which every part stores and reads something: one 10 MB instance for the
# large store, two 16 MB instances for the large retrieve.
TINY = Options(instances=40, samples=4, stow_mb=12, retrieve_mb=32)


async def test_suite_reports_every_figure(stack: LocalStack) -> None:
    result = await run_suite(stack, TINY)

    results = result.figures
    ours = results[OURS]
    for metrics in METRICS.values():
        for metric in metrics:
            assert metric.key in ours, metric.key
            assert ours[metric.key].value > 0, metric.key
            assert ours[metric.key].samples > 0, metric.key
    for key in FLOOR_METRICS:
        assert results[FLOOR][key].value > 0, key

    table = markdown(results, "peer").splitlines()
    rows = len(table) - 2
    assert rows == sum(len(metrics) for metrics in METRICS.values())
    assert all(row.split("|")[3].strip() != "—" for row in table[2:])
    assert set(result.cpu) == {"ingest", "search", "retrieve"}
    for spent in result.cpu.values():
        assert set(spent) == {"wall", "host", "azurite", "cosmos", "load generator"}
        assert spent["wall"] > 0
        assert all(seconds >= 0 for seconds in spent.values())
    costs = {cost.name: cost for cost in result.costs}
    assert set(costs) == {
        *("ingest_1", "ingest_10", "ingest_large"),
        *("study_list", "patient_id", "study_series", "series_instances"),
        *("instance", "frame", "series_metadata", "study"),
    }
    for name in ("ingest_1", "ingest_10", "ingest_large"):
        assert costs[name].unit == "stored instance"
        assert costs[name].index_calls > 0 and costs[name].blob_calls > 0, name
    assert costs["instance"].blob_calls > 0 and costs["study_list"].index_calls > 0
