"""Refresh-due markers: their shape, and how often a store's commits carry them.

The sweep's side (a killed store's markers refreshed and deleted) is tested with a host that is
killed, in ``tests/functions/test_delete_background.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.uid import generate_uid

from shared.clients import Clients
from shared.uid_index import refresh_due
from shared.uid_index.documents import refresh_due_document, refresh_due_series
from shared.uid_index.index import LEASE_SECONDS, AggregatesRead
from shared.uid_index.keys import SeriesRef, StudyRef, doc_id
from shared.uid_index.refresh_due import RENEW_WITHIN_SECONDS, SeriesToRefresh
from tests.functions.storage_checks import document, instance_doc, ref_of
from tests.functions.test_store import ct, post
from tests.shared.uid_index.test_keys import uids

partitions = st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True)


@given(partitions, uids, uids, st.floats(min_value=0, max_value=2e9))
def test_a_marker_names_its_series_by_digest_and_reads_back(
    partition: str, study: str, series_uid: str, lease_until: float
) -> None:
    series = SeriesRef(StudyRef(partition, study), series_uid)
    doc = refresh_due_document(series, lease_until=lease_until)
    assert refresh_due_series(doc) == series
    assert (doc["type"], doc["pk"], doc["leaseUntil"]) == ("refresh", series.study.key, lease_until)
    # One marker per series, beside the series document in the study's partition, never it.
    assert doc["id"] == doc_id("refresh", series.key) != series.doc_id
    assert study not in doc["id"] and series_uid not in doc["id"]


class _Refreshes:
    """An index that only records the series it is asked to refresh, the studies whose
    aggregates are read, and the read each refresh starts from."""

    def __init__(self) -> None:
        self.series: list[SeriesRef] = []
        self.reads: list[StudyRef] = []
        self.started_from: list[AggregatesRead | None] = []

    async def read_aggregates(self, study: StudyRef) -> AggregatesRead:
        self.reads.append(study)
        return AggregatesRead(study, len(self.reads))

    async def refresh(self, study: StudyRef, series: Any, read: Any = None) -> None:
        self.series.extend(series)
        self.started_from.append(read)


async def test_a_commit_carries_the_marker_until_one_lands_and_again_once_it_runs_low(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parts committing into one series at once each carry the marker until one of them lands;
    the series is to refresh from the first commit sent, whether or not it lands."""
    now = [1000.0]
    monkeypatch.setattr(refresh_due, "time", SimpleNamespace(time=lambda: now[0]))
    index = _Refreshes()
    to_refresh = SeriesToRefresh(cast(Any, index))
    series = SeriesRef(StudyRef("p", generate_uid()), generate_uid())
    first = to_refresh.marker_lease(series)
    assert first == 1000.0 + LEASE_SECONDS
    assert to_refresh.marker_lease(series) == first  # sent before the first is answered
    to_refresh.marked(series, first)
    assert to_refresh.marker_lease(series) is None
    now[0] = first - RENEW_WITHIN_SECONDS - 0.1
    assert to_refresh.marker_lease(series) is None
    now[0] = first - RENEW_WITHIN_SECONDS
    renewed = to_refresh.marker_lease(series)
    assert renewed == now[0] + LEASE_SECONDS
    to_refresh.marked(series, renewed)
    to_refresh.marked(series, first)  # an earlier one answered late: the later lease stays
    now[0] = renewed - RENEW_WITHIN_SECONDS - 0.1
    assert to_refresh.marker_lease(series) is None
    await to_refresh.refresh()
    assert index.series == [series]


BOUNDARY = b"--DICOMwebBoundary"
PART_HEAD = b"Content-Type: application/dicom\r\n\r\n"


async def test_each_study_is_read_once_when_first_named_and_its_refresh_starts_there() -> None:
    index = _Refreshes()
    to_refresh = SeriesToRefresh(cast(Any, index))
    study = StudyRef("p", generate_uid())
    one, two = SeriesRef(study, generate_uid()), SeriesRef(study, generate_uid())
    other = SeriesRef(StudyRef("p", generate_uid()), generate_uid())
    to_refresh.marker_lease(one)
    await asyncio.sleep(0)  # the read is sent at once, before the commit is answered
    assert index.reads == [study]
    to_refresh.marker_lease(two)
    to_refresh.add(other)
    await to_refresh.refresh()
    assert index.reads == [study, other.study]
    assert sorted(index.series, key=str) == sorted([one, two, other], key=str)
    assert sorted((r.study.key, r.state) for r in index.started_from if r) == sorted(
        [(study.key, 1), (other.study.key, 2)]
    )


async def test_a_failed_read_ahead_leaves_the_refresh_to_read_itself() -> None:
    class Failing(_Refreshes):
        async def read_aggregates(self, study: StudyRef) -> AggregatesRead:
            raise ConnectionError("index unreachable")

    index = Failing()
    to_refresh = SeriesToRefresh(cast(Any, index))
    series = SeriesRef(StudyRef("p", generate_uid()), generate_uid())
    to_refresh.marker_lease(series)
    await to_refresh.refresh()
    assert index.series == [series]
    assert index.started_from == [None]


async def marker_once_stored(storage: Clients, ds: Any) -> dict[str, Any]:
    """The series' marker, once the service has committed ``ds`` (the commit carries it)."""
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    for _ in range(400):
        doc = await instance_doc(storage, ref)
        if doc is not None and doc["status"] == "created":
            marker = await document(storage, doc_id("refresh", ref.series.key), ref.study.key)
            assert marker is not None
            return marker
        await asyncio.sleep(0.05)
    raise AssertionError("the part was not stored")


@pytest.mark.integration
async def test_a_store_marks_a_series_once_and_again_only_while_it_keeps_committing(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    """Three parts into one series: the second, committed at once, carries no marker; the third,
    held back until the marker has less than ``RENEW_WITHIN_SECONDS`` left, carries it again."""
    study, series = generate_uid(), generate_uid()
    (p1, ds1), (p2, ds2), (p3, _) = (ct(study, series) for _ in range(3))
    seen: list[dict[str, Any]] = []

    async def body() -> AsyncIterator[bytes]:
        yield BOUNDARY + b"\r\n" + PART_HEAD + p1 + b"\r\n" + BOUNDARY + b"\r\n"
        seen.append(await marker_once_stored(storage, ds1))
        yield PART_HEAD + p2 + b"\r\n" + BOUNDARY + b"\r\n"
        seen.append(await marker_once_stored(storage, ds2))
        await asyncio.sleep(seen[-1]["leaseUntil"] - RENEW_WITHIN_SECONDS - time.time() + 0.5)
        yield PART_HEAD + p3 + b"\r\n" + BOUNDARY + b"--\r\n"

    response = await post(http, body())
    assert response.status_code == 200, response.text
    first, second = seen
    assert second["_etag"] == first["_etag"]
    ref = ref_of(study, series, ds1.SOPInstanceUID)
    last = await document(storage, doc_id("refresh", ref.series.key), ref.study.key)
    assert last is not None and last["leaseUntil"] > first["leaseUntil"]
