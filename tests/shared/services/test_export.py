"""The export request as Azure documents it, and the job record that makes an export resumable."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import BadRequest
from shared.services.export import ExportJob, parse_export_request

DESTINATION = "https://cohorts.blob.core.windows.net/export"


def _body(values: Any, uri: Any = DESTINATION, kind: str = "azureblob") -> dict[str, Any]:
    return {
        "source": {"type": "identifiers", "settings": {"values": values}},
        "destination": {"type": kind, "settings": {"blobContainerUri": uri}},
    }


def test_studies_series_and_instances_are_sources() -> None:
    request = parse_export_request(_body(["1.2", "1.2/3.4", "1.2/3.4/5.6"], kind="AzureBlob"))
    assert request.sources == ["1.2", "1.2/3.4", "1.2/3.4/5.6"]
    assert request.destination == DESTINATION


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (None, "JSON object"),
        ({"source": {"type": "query"}}, "source.type"),
        (_body("1.2"), "non-empty list"),
        (_body([]), "non-empty list"),
        (_body(["1.2", 7]), "source identifier 2"),
        (_body(["1.2", "1.2/"]), "source identifier 2"),
        (_body(["1.2/3/4/5"]), "source identifier 1"),
        (_body(["1.2"], kind="gcs"), "destination.type"),
        (_body(["1.2"], uri=None), "blobContainerUri"),
        (_body(["1.2"] * 10_001), "at most 10000"),
    ],
)
def test_refusals_name_what_is_wrong(body: Any, named: str) -> None:
    with pytest.raises(BadRequest, match=named):
        parse_export_request(body)


@given(st.integers(0, 5), st.lists(st.text(max_size=30), max_size=3))
def test_a_job_reads_back_as_written(cursor: int, errors: list[str]) -> None:
    job = ExportJob("a" * 32, ["1.2"], DESTINATION, "t0", "t1", cursor=cursor, errors=errors)
    assert ExportJob.from_bytes(job.to_bytes()) == job
