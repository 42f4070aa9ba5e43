"""Retrieve while blob storage is down: 503 with Retry-After, never a 200 that stops short."""

from __future__ import annotations

import httpx
import pytest
from pydicom.uid import generate_uid

from devhost.stack import LocalStack
from tests.data.builders import with_fresh_uids
from tests.functions.retrieve_checks import parts_of, store_all

pytestmark = pytest.mark.integration


async def test_blob_storage_down_is_503_then_recovers(
    stack: LocalStack, http: httpx.AsyncClient
) -> None:
    study = generate_uid()
    data, ds = with_fresh_uids("emri_small.dcm", study_uid=study)
    await store_all(http, [data])
    instance = f"/v2/studies/{study}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    paths = [
        f"/v2/studies/{study}",
        f"{instance}/frames/1",
    ]
    stack.stop_azurite()
    try:
        for path in paths:
            response = await http.get(path)
            assert response.status_code == 503, path
            assert response.headers["retry-after"]
        # The metadata of an instance this host has just stored is in its memory (a version's
        # sidecar never changes), so it is served while Blob Storage is down.
        metadata = await http.get(f"/v2/studies/{study}/metadata")
        assert metadata.status_code == 200
    finally:
        stack.start_azurite()
    response = await http.get(f"/v2/studies/{study}", headers={"accept": "multipart/related"})
    assert response.status_code == 200
    assert len(await parts_of(response)) == 1
