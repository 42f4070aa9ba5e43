"""The benchmark's pure parts: percentiles, the archive's shape, the targets' verdicts, the
round trips read from latencies at several storage delays."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.archive import LARGE_SERIES, MINIMUM, make_archive
from bench.calls import Calls, calls_in
from bench.cloud_latency import Row, sequential_round_trips
from bench.load import Run
from bench.measure import Figure
from bench.table import FLOOR, OURS, PEER, TARGETS


def test_nearest_rank_percentiles() -> None:
    run = Run(
        latencies=[0.4, 0.1, 0.3, 0.2, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], seconds=2, payload_bytes=0
    )
    assert run.percentile(0.5) == 0.5
    assert run.percentile(0.95) == 1.0
    assert run.per_second == 5


@given(st.lists(st.floats(0, 10), min_size=1), st.floats(0.01, 1))
def test_a_percentile_is_a_sample_covering_its_fraction(
    latencies: list[float], fraction: float
) -> None:
    run = Run(latencies=latencies, seconds=1, payload_bytes=0)
    value = run.percentile(fraction)
    assert value in latencies
    assert sum(v <= value for v in latencies) >= fraction * len(latencies)


@pytest.mark.parametrize("total", [MINIMUM, 1000])
def test_archive_holds_every_instance_once(total: int) -> None:
    archive = make_archive(total)
    sops = [i.sop for i in archive.instances()]
    assert len(sops) == len(set(sops)) == total
    assert len(archive.large.instances()) == min(LARGE_SERIES, total // 2)
    assert list(archive.runs) == ["1", "10", "large"]
    assert all(len(r) == 1 for r in archive.runs["1"].requests)
    assert all(len(r) <= 10 for r in archive.runs["10"].requests)
    # The large study is a run of its own, so the small studies' runs are alike at every size.
    large = {i.sop for i in archive.large.instances()}
    assert {i.sop for r in archive.runs["large"].requests for i in r} == large
    assert not any(
        i.sop in large for name in ("1", "10") for r in archive.runs[name].requests for i in r
    )


def test_archive_refuses_a_size_too_small_for_every_figure() -> None:
    with pytest.raises(ValueError, match="at least"):
        make_archive(MINIMUM - 1)


def _results(ours: float, peer: float) -> dict[str, dict[str, Figure]]:
    return {OURS: {"frame_rps": Figure(ours, 5)}, PEER: {"frame_rps": Figure(peer, 5)}, FLOOR: {}}


def test_a_target_against_the_peer_is_judged_on_the_ratio() -> None:
    assert TARGETS["frame_rps"].met(_results(ours=85, peer=100)) is True
    assert TARGETS["frame_rps"].met(_results(ours=75, peer=100)) is False
    assert TARGETS["study_mbps"].met(_results(ours=90, peer=100)) is None


def test_storage_calls_are_read_from_access_lines_only() -> None:
    log = "\n".join(
        [
            "INFO:     devhost.access: POST /v2/studies 200 12.5 ms request=ab12 index=9 blob=2",
            "INFO:     devhost: something else index=5 blob=5",
            "INFO:     devhost.access: GET /v2/studies/{study} 404 1.0 ms request=cd34 "
            "index=1 blob=0",
        ]
    )
    assert calls_in(log) == Calls(requests=2, index=10, blob=2)
    assert calls_in("") == Calls()


def _row(latency_ms: float, stow_ms: float, frame_ms: float) -> Row:
    return Row(latency_ms, stow_ms, stow_ms, 50, frame_ms, frame_ms, 2)


def test_round_trips_are_the_median_growth_per_millisecond_of_delay() -> None:
    rows = [_row(10, 380, 30), _row(0, 160, 10), _row(2, 205, 14)]
    assert sequential_round_trips(rows) == {"stow": 22.0, "frame": 2.0}
    assert sequential_round_trips([_row(0, 160, 10)]) == {}
