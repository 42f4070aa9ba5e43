"""Progressive HTJ2K through the local host: a frame read by byte range, coarse image first."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from bench.progressive import decode_prefix, resolution_stages
from tests.data.builders import with_fresh_uids
from tests.functions.retrieve_checks import parts_of, store_all

pytestmark = pytest.mark.integration

RPCL = "1.2.840.10008.1.2.4.202"
SINGLE = f"image/jphc; transfer-syntax={RPCL}"
MULTIPART = f'multipart/related; type="image/jphc"; transfer-syntax={RPCL}'
NAME = "RG1_UNCR.dcm"  # a 1841 x 1955 radiograph, 16-bit, stored uncompressed


async def _frame_url(http: httpx.AsyncClient, source: str | bytes = NAME) -> str:
    data, ds = with_fresh_uids(source, study_uid=generate_uid())
    await store_all(http, [data])
    return (
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/frames/1"
    )


async def test_a_prefix_of_an_rpcl_frame_decodes_at_a_lower_resolution(
    http: httpx.AsyncClient,
) -> None:
    url = await _frame_url(http)
    whole = await http.get(url, headers={"accept": SINGLE})
    assert whole.status_code == 200, whole.text
    assert whole.headers["accept-ranges"] == "bytes"
    codestream = whole.content
    stages = resolution_stages(codestream)
    assert len(stages) == 6  # five decompositions: six resolution levels, lowest first

    first = await http.get(url, headers={"accept": SINGLE, "range": f"bytes=0-{stages[0] - 1}"})
    assert first.status_code == 206, first.text
    assert first.headers["content-range"] == f"bytes 0-{stages[0] - 1}/{len(codestream)}"
    assert first.headers["content-type"] == SINGLE
    assert first.content == codestream[: stages[0]]
    assert len(first.content) * 100 < len(codestream)

    coarse = decode_prefix(first.content, levels_skipped=5)
    assert coarse.shape == (62, 58)  # ceil(1955 / 32) x ceil(1841 / 32)
    assert np.array_equal(coarse, decode_prefix(codestream, levels_skipped=5))
    original = dcmread(get_testdata_file(NAME)).pixel_array
    assert np.array_equal(decode_prefix(codestream, levels_skipped=0), original)

    rest = await http.get(url, headers={"accept": SINGLE, "range": f"bytes={stages[0]}-"})
    assert rest.status_code == 206
    assert first.content + rest.content == codestream


async def test_ranges_of_a_multipart_frame_join_up(http: httpx.AsyncClient) -> None:
    url = await _frame_url(http)
    head = await http.get(url, headers={"accept": MULTIPART, "range": "bytes=0-65535"})
    assert head.status_code == 206, head.text
    total = int(head.headers["content-range"].rpartition("/")[2])
    tail = await http.get(url, headers={"accept": MULTIPART, "range": "bytes=65536-"})
    assert tail.status_code == 206
    assert tail.headers["content-type"] == head.headers["content-type"]
    assert tail.headers["content-range"] == f"bytes 65536-{total - 1}/{total}"
    joined = httpx.Response(
        200,
        headers={"content-type": head.headers["content-type"]},
        content=head.content + tail.content,
    )
    ((content_type, codestream),) = await parts_of(joined)
    assert content_type == SINGLE
    single = await http.get(url, headers={"accept": SINGLE})
    assert codestream == single.content


async def test_frame_ranges_outside_or_of_several_frames(http: httpx.AsyncClient) -> None:
    url = await _frame_url(http)
    length = len((await http.get(url, headers={"accept": SINGLE})).content)
    outside = await http.get(url, headers={"accept": SINGLE, "range": f"bytes={length}-"})
    assert outside.status_code == 416
    assert outside.headers["content-range"] == f"bytes */{length}"
    several = await http.get(
        url.replace("/frames/1", "/frames/1,1"),
        headers={"accept": MULTIPART, "range": "bytes=0-99"},
    )
    assert several.status_code == 200
    assert len(await parts_of(several)) == 2


async def test_a_frame_stored_as_rpcl_is_read_by_range_as_stored(http: httpx.AsyncClient) -> None:
    produced = await _frame_url(http)
    instance = produced.removesuffix("/frames/1")
    answer = await http.get(
        instance, headers={"accept": f"application/dicom; transfer-syntax={RPCL}"}
    )
    assert answer.status_code == 200, answer.text
    url = await _frame_url(http, answer.content)  # the RPCL file stored as a new instance
    stored = await http.get(url, headers={"accept": SINGLE})
    stages = resolution_stages(stored.content)
    first = await http.get(url, headers={"accept": SINGLE, "range": f"bytes=0-{stages[1] - 1}"})
    assert first.status_code == 206
    assert first.content == stored.content[: stages[1]]
    assert decode_prefix(first.content, levels_skipped=4).shape == (123, 116)
    # The instance's Pixel Data as bulk data is its one frame, with the same ranges.
    bulk = url.replace("/frames/1", "/bulkdata/7FE00010")
    part = await http.get(bulk, headers={"accept": SINGLE, "range": f"bytes=0-{stages[0] - 1}"})
    assert part.status_code == 206, part.text
    assert part.content == stored.content[: stages[0]]
