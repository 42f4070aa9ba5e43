"""Bulk data paths."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import NotFound
from shared.services.bulk_data import bulk_element
from shared.uid_index.keys import InstanceRef
from shared.uid_index.sidecar import Sidecar


def _sidecar(metadata: dict[str, Any]) -> Sidecar:
    return Sidecar(
        ref=InstanceRef.of("p", "1.2", "1.2.3", "1.2.3.4"),
        version="0" * 24,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.7",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        size=10,
        metadata=metadata,
        frames=None,
        pixel_data=None,
        excluded_tags=(),
    )


def test_bulk_element_follows_sequences() -> None:
    nested = {"54001010": {"vr": "OW", "BulkDataURI": "bulkdata/54000100/1/54001010"}}
    sidecar = _sidecar(
        {
            "54000100": {"vr": "SQ", "Value": [{}, nested]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "A"}]},
        }
    )
    assert bulk_element(sidecar, "54000100/1/54001010")["vr"] == "OW"
    for path in (
        "54000100/0/54001010",
        "54000100/2/54001010",
        f"54000100/{'1' * 4301}/54001010",
        "00100010",
        "../x",
        "5400",
    ):
        with pytest.raises(NotFound):
            bulk_element(sidecar, path)
