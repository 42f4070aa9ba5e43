"""Stored instances whose pixel data does not decode: as stored they come back unchanged; every
resource that must decode them answers 406, never 500."""

from __future__ import annotations

import httpx
import pytest
from pydicom.encaps import encapsulate

from tests.data.builders import to_bytes, with_fresh_uids
from tests.functions.retrieve_checks import store_all

pytestmark = pytest.mark.integration


async def _stored_with_broken_codestream(http: httpx.AsyncClient) -> tuple[str, bytes]:
    _, ds = with_fresh_uids("JPEG-LL.dcm")
    ds.PixelData = encapsulate([b"\xff\xd8" + b"\0" * 64])  # a JPEG start, then nothing valid
    data = to_bytes(ds)
    await store_all(http, [data])
    path = (
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    return path, data


async def test_undecodable_pixel_data_is_406_where_it_must_be_decoded(
    http: httpx.AsyncClient,
) -> None:
    path, data = await _stored_with_broken_codestream(http)
    as_stored = await http.get(path, headers={"accept": "application/dicom; transfer-syntax=*"})
    assert as_stored.status_code == 200
    assert as_stored.content == data
    decoded = {
        path: "application/dicom",
        f"{path}/frames/1": "application/octet-stream",
        f"{path}/rendered": "image/png",
        f"{path}/frames/1/rendered": "image/jpeg",
        f"{path}/thumbnail": "image/jpeg",
        f"{path}/frames/1/thumbnail": "image/png",
    }
    for url, accept in decoded.items():
        response = await http.get(url, headers={"accept": accept})
        assert response.status_code == 406, (url, response.status_code)
        assert "cannot be" in response.text


async def test_an_attribute_that_cannot_be_written_converted_is_406(
    http: httpx.AsyncClient,
) -> None:
    """An Instance Number with an Arabic-Indic digit in UTF-8: read as a number, but no writer
    can put it back in the ASCII of IS. As stored it is served; converted it is a 406."""
    _, ds = with_fresh_uids("CT_small.dcm")
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.InstanceNumber = "7777"
    element = b"\x20\x00\x13\x00IS\x04\x00"
    data = to_bytes(ds).replace(element + b"7777", element + "7\u0663 ".encode())
    assert element + "7\u0663 ".encode() in data
    await store_all(http, [data])
    path = (
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    as_stored = await http.get(path, headers={"accept": "application/dicom; transfer-syntax=*"})
    assert as_stored.content == data
    implicit = "application/dicom; transfer-syntax=1.2.840.10008.1.2"
    converted = await http.get(path, headers={"accept": implicit})
    assert converted.status_code == 406, converted.status_code
    assert "transfer-syntax=*" in converted.text
