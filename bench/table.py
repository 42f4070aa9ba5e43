"""The suite's result table: every metric for every server measured, their ratios, and whether
each target is met."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.measure import Figure, Figures

OURS, PEER, FLOOR = "ours", "peer", "floor"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool


def _search(key: str, label: str) -> list[Metric]:
    return [
        Metric(f"{key}_p50_ms", f"{label}, p50", "ms", False),
        Metric(f"{key}_p95_ms", f"{label}, p95", "ms", False),
        Metric(f"{key}_rps", label, "requests/s", True),
    ]


METRICS: dict[str, list[Metric]] = {
    "ingest": [
        Metric("ingest_1_ips", "store, 1 instance per request", "instances/s", True),
        Metric("ingest_1_mbps", "store, 1 instance per request", "MB/s", True),
        Metric("ingest_1_p50_ms", "store, 1 instance per request, p50", "ms", False),
        Metric("ingest_1_p95_ms", "store, 1 instance per request, p95", "ms", False),
        Metric("ingest_10_ips", "store, 10 instances per request", "instances/s", True),
        Metric("ingest_10_mbps", "store, 10 instances per request", "MB/s", True),
        Metric("ingest_10_p50_ms", "store, 10 instances per request, p50", "ms", False),
        Metric("ingest_10_p95_ms", "store, 10 instances per request, p95", "ms", False),
        Metric("ingest_large_ips", "store, the large series, 10 per request", "instances/s", True),
        Metric("ingest_large_mbps", "store, the large series, 10 per request", "MB/s", True),
        Metric("ingest_large_p50_ms", "store, the large series, 10 per request, p50", "ms", False),
        Metric("ingest_large_p95_ms", "store, the large series, 10 per request, p95", "ms", False),
    ],
    "search": [
        *_search("study_list", "search: OHIF study list"),
        *_search("patient_id", "search: studies by PatientID"),
        *_search("study_series", "search: series of a study"),
        *_search("series_instances", "search: instances of a series"),
    ],
    "retrieve": [
        *_search("instance", "retrieve: instance, as stored"),
        *_search("frame", "retrieve: frame, native"),
        *_search("series_metadata", "retrieve: metadata of the large series"),
        Metric("study_mbps", "retrieve: the large study, as stored", "MB/s", True),
    ],
    "memory": [
        Metric("stow_peak_rss_mb", "host peak RSS storing one large request", "MB", False),
        Metric("retrieve_peak_rss_mb", "host peak RSS retrieving one large study", "MB", False),
    ],
}
# The metrics the floor measures too: what storage alone does with the same bytes.
FLOOR_METRICS = (
    *(f"ingest_{run}_{unit}" for run in ("1", "10", "large") for unit in ("ips", "mbps")),
    "study_mbps",
)


@dataclass(frozen=True)
class Target:
    """A bound on our figure, or on its ratio to another column's (``against``)."""

    key: str
    text: str
    test: Callable[[float], bool]
    against: str | None = None

    def met(self, results: dict[str, Figures]) -> bool | None:
        """Whether the target is met; None when a figure it needs was not measured."""
        if self.against is None:
            value = _value(results, OURS, self.key)
        else:
            value = _ratio(results, self.key, self.against)
        return None if value is None else self.test(value)


TARGETS = {
    t.key: t
    for t in (
        Target("ingest_1_ips", "≥ 0.5× peer", lambda r: r >= 0.5, PEER),
        Target("ingest_10_ips", "≥ 0.5× peer", lambda r: r >= 0.5, PEER),
        Target("study_list_p50_ms", "≤ 0.5× peer", lambda r: r <= 0.5, PEER),
        Target("instance_rps", "≥ 0.8× peer", lambda r: r >= 0.8, PEER),
        Target("frame_rps", "≥ 0.8× peer", lambda r: r >= 0.8, PEER),
        Target("study_mbps", "≥ 0.8× floor", lambda r: r >= 0.8, FLOOR),
        Target("series_metadata_p50_ms", "< 100 ms", lambda v: v < 100),
    )
}


def _value(results: dict[str, Figures], column: str, key: str) -> float | None:
    figure = results.get(column, {}).get(key)
    return None if figure is None else figure.value


def _ratio(results: dict[str, Figures], key: str, other: str) -> float | None:
    ours, theirs = _value(results, OURS, key), _value(results, other, key)
    return None if ours is None or not theirs else ours / theirs


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _cell(figures: Figures, key: str) -> str:
    figure: Figure | None = figures.get(key)
    return "—" if figure is None else f"{_number(figure.value)} (n={figure.samples})"


def _ratio_cell(results: dict[str, Figures], key: str, other: str) -> str:
    ratio = _ratio(results, key, other)
    return "—" if ratio is None else f"{ratio:.2f}×"


def markdown(results: dict[str, Figures], peer_name: str) -> str:
    """The table: one row per metric measured, ratios as ours divided by theirs."""
    header = (
        f"| metric | unit | ours | {peer_name} | floor | ours/{peer_name} | ours/floor | target |"
    )
    lines = [header, "|" + "---|" * 8]
    for metrics in METRICS.values():
        for m in metrics:
            if not any(m.key in figures for figures in results.values()):
                continue
            target = TARGETS.get(m.key)
            verdict = ""
            if target is not None:
                met = target.met(results)
                verdict = f"{target.text}: " + {True: "met", False: "MISSED", None: "not run"}[met]
            lines.append(
                f"| {m.label} | {m.unit} | {_cell(results.get(OURS, {}), m.key)} "
                f"| {_cell(results.get(PEER, {}), m.key)} | {_cell(results.get(FLOOR, {}), m.key)} "
                f"| {_ratio_cell(results, m.key, PEER)} | {_ratio_cell(results, m.key, FLOOR)} "
                f"| {verdict} |"
            )
    return "\n".join(lines)
