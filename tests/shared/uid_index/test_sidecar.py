"""The sidecar's bytes: strict JSON that reads back to the same sidecar, and sidecars written
before (which could hold a non-finite float as ``NaN``) still read."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.uid_index.keys import InstanceRef
from shared.uid_index.sidecar import OriginalCopy, Sidecar

REF = InstanceRef.of("Microsoft.Default", "1.2.3", "1.2.3.4", "1.2.3.4.5")
SIDECAR = Sidecar(
    ref=REF,
    version="0" * 24,
    sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
    transfer_syntax_uid="1.2.840.10008.1.2.1",
    size=39_000,
    metadata={
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Jürgen"}]},
        "00280030": {"vr": "DS", "Value": [0.5, 0.5]},
        "7FE00010": {"vr": "OW", "BulkDataURI": "bulkdata/7FE00010"},
    },
    frames=[[[1024, 32768]]],
    pixel_data={"vr": "OW", "offset": 1024, "length": 32768},
    excluded_tags=("00100020",),
    htj2k_frames=[[0, 900]],
    original=OriginalCopy(version="1" * 24, size=39_100),
)


def _strict(data: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(data, parse_constant=refuse)


def test_round_trip() -> None:
    assert Sidecar.from_bytes(SIDECAR.to_bytes()) == SIDECAR


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_float_is_written_as_null(value: float) -> None:
    sidecar = replace(SIDECAR, metadata={"00189087": {"vr": "FD", "Value": [1.5, value]}})
    written = _strict(sidecar.to_bytes())
    assert written["metadata"]["00189087"]["Value"] == [1.5, None]


def test_a_sidecar_holding_nan_as_written_before_still_reads() -> None:
    body = json.loads(SIDECAR.to_bytes())
    body["metadata"]["00189087"] = {"vr": "FD", "Value": [math.nan]}
    older = json.dumps(body).encode()
    assert b"NaN" in older
    (value,) = Sidecar.from_bytes(older).metadata["00189087"]["Value"]
    assert math.isnan(value)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), JSON_VALUES, max_size=6))
def test_any_metadata_reads_back_as_the_standard_encoder_would_write_it(
    metadata: dict[str, Any],
) -> None:
    sidecar = replace(SIDECAR, metadata=metadata)
    assert _strict(sidecar.to_bytes())["metadata"] == json.loads(json.dumps(metadata))
