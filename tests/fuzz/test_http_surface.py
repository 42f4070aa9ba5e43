"""No request, however malformed, gets a 5xx: a hypothesis property over the whole HTTP surface,
through the local host against the real emulators.

``DICOMWEB_FUZZ_EXAMPLES`` sets the examples per kind (default 100, which keeps this well under a
minute); ``python -m tests.fuzz`` runs the same strategies for thousands of requests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.requests import KINDS, STRATEGIES, Pool
from tests.fuzz.surface import Tally, acceptable, seed, send

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("DICOMWEB_FUZZ_EXAMPLES", "100"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def pool(client: httpx.Client) -> Pool:
    stored = Pool()
    seed(client, stored)
    return stored


@pytest.mark.parametrize("kind", KINDS)
def test_no_request_gets_a_server_error(client: httpx.Client, pool: Pool, kind: str) -> None:
    tally = Tally()

    @FUZZ
    @given(data=st.data())
    def property_(data: st.DataObject) -> None:
        request = data.draw(STRATEGIES[kind](pool), label="request")
        response = send(client, request, tally, pool)
        assert acceptable(response), (
            None if response is None else (response.status_code, response.text[:200])
        )

    property_()
    assert tally.sent[kind] > 0
