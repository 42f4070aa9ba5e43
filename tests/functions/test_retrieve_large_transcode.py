"""A large multi-frame instance converted through the local host: frame by frame, in bounded
memory (the host's RSS is sampled while the answer streams)."""

from __future__ import annotations

import io

import httpx
import numpy as np
import psutil
import pytest
from pydicom import dcmread

from bench.common import CONTENT_TYPE, FRAME, RssSampler, instance_chunks, multipart_body
from devhost.stack import LocalStack
from tests.functions.retrieve_checks import parts_of

pytestmark = pytest.mark.integration

FRAMES = 40  # 1024 x 1024 x 16 bit: 80 MiB, under the test stack's request limit
HTJ2K = "1.2.840.10008.1.2.4.201"
GROWTH_LIMIT = 48 * 2**20
"""Most the host's RSS may grow while converting: well under the file's size, which converting
it whole (the file and its decoded data set both in memory) takes at least twice over."""


async def _stored_instance(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/v2/studies",
        content=multipart_body(1, FRAMES),
        headers={"Content-Type": CONTENT_TYPE, "Accept": "application/dicom+json"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["00081199"]["Value"][0]["00081190"]["Value"][0])


async def test_a_large_instance_is_converted_frame_by_frame_in_bounded_memory(
    http: httpx.AsyncClient, stack: LocalStack
) -> None:
    url = await _stored_instance(http)
    host = psutil.Process(stack.pids()["host"])
    accept = f'multipart/related; type="application/dicom"; transfer-syntax={HTJ2K}'
    body = bytearray()
    before = host.memory_info().rss
    with RssSampler(host.pid) as sampler:
        async with http.stream("GET", url, headers={"accept": accept}) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_raw():
                body += chunk
    assert sampler.peak - before < GROWTH_LIMIT, (before, sampler.peak)

    answer = httpx.Response(200, headers=response.headers, content=bytes(body))
    ((content_type, data),) = await parts_of(answer)
    assert content_type == f"application/dicom; transfer-syntax={HTJ2K}"
    ds = dcmread(io.BytesIO(data))
    assert ds.file_meta.TransferSyntaxUID == HTJ2K
    assert int(ds.NumberOfFrames) == FRAMES
    frame = np.frombuffer(list(instance_chunks("1.2", "1.2.3", 1))[1], dtype="<u2")
    pixels = ds.pixel_array
    assert pixels.shape == (FRAMES, 1024, 1024)
    assert all(np.array_equal(pixels[i].ravel(), frame) for i in (0, FRAMES // 2, FRAMES - 1))
    assert len(frame) * 2 == FRAME
