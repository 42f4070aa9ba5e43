"""The HTJ2K copy made at ingest (``DICOMWEB_HTJ2K_COPY``): frames asked for in HTJ2K are read
from it, byte ranges included, and decode to the original pixels; everything else is served from
the file as stored, and the copy goes with its version."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import HTJ2KLossless, HTJ2KLosslessRPCL, generate_uid

from bench.progressive import decode_prefix, resolution_stages
from devhost.stack import LocalStack
from shared.clients import Clients
from shared.services.verify import verify
from shared.uid_index.sidecar import Sidecar
from tests.conftest import own_stack
from tests.data.builders import corpus_path, with_fresh_uids
from tests.functions.retrieve_checks import parts_of, store_all
from tests.functions.storage_checks import ref_of

pytestmark = pytest.mark.integration

MULTIFRAME = "emri_small.dcm"  # 10 frames, 16-bit MR, stored uncompressed
JPEG_LS = "MR_small_jpeg_ls_lossless.dcm"  # one frame, stored compressed


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from own_stack(
        tmp_path_factory,
        "htj2k-copy",
        DICOMWEB_HTJ2K_COPY="true",
    )


async def _stored(
    http: httpx.AsyncClient, storage: Clients, name: str
) -> tuple[str, Sidecar, bytes]:
    data, ds = with_fresh_uids(name, study_uid=generate_uid())
    await store_all(http, [data])
    ref = ref_of(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    [instance] = await storage.index.visible(ref)
    raw = await storage.blobs.get(instance.sidecar_blob)
    assert raw is not None
    url = (
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    return url, Sidecar.from_bytes(raw), data


@pytest.mark.parametrize("name", [MULTIFRAME, JPEG_LS])
async def test_frames_in_htj2k_come_from_the_copy_and_decode_to_the_original(
    http: httpx.AsyncClient, storage: Clients, name: str
) -> None:
    url, sidecar, _ = await _stored(http, storage, name)
    assert sidecar.htj2k_frames is not None
    copy = await storage.blobs.get(sidecar.ref.htj2k_blob(sidecar.version))
    assert copy is not None and sum(length for _, length in sidecar.htj2k_frames) == len(copy)
    original = dcmread(corpus_path(name)).pixel_array
    frames = original.reshape((-1, *original.shape[-2:]))
    numbers = ",".join(str(n) for n in range(1, len(frames) + 1))
    for syntax in (HTJ2KLossless, HTJ2KLosslessRPCL):
        accept = f'multipart/related; type="image/jphc"; transfer-syntax={syntax}'
        response = await http.get(f"{url}/frames/{numbers}", headers={"accept": accept})
        assert response.status_code == 200, response.text
        parts = await parts_of(response)
        assert [t for t, _ in parts] == [f"image/jphc; transfer-syntax={syntax}"] * len(frames)
        for (offset, length), (_, body), pixels in zip(
            sidecar.htj2k_frames, parts, frames, strict=True
        ):
            assert body == copy[offset : offset + length]  # the copy's bytes, not a new encoding
            assert np.array_equal(decode_prefix(body, levels_skipped=0), pixels)


async def test_a_frame_range_reads_the_copy_and_its_prefix_is_a_coarse_image(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    url, sidecar, _ = await _stored(http, storage, MULTIFRAME)
    assert sidecar.htj2k_frames is not None
    single = f"image/jphc; transfer-syntax={HTJ2KLosslessRPCL}"
    whole = (await http.get(f"{url}/frames/3", headers={"accept": single})).content
    stages = resolution_stages(whole)
    first = await http.get(
        f"{url}/frames/3", headers={"accept": single, "range": f"bytes=0-{stages[0] - 1}"}
    )
    assert first.status_code == 206
    offset, _ = sidecar.htj2k_frames[2]
    copy = await storage.blobs.read_range(
        sidecar.ref.htj2k_blob(sidecar.version), offset, stages[0]
    )
    assert first.content == copy
    coarse = decode_prefix(first.content, levels_skipped=len(stages) - 1)
    assert np.array_equal(coarse, decode_prefix(whole, levels_skipped=len(stages) - 1))

    # The copy's bytes are what is sent: change them, and the answer changes with them.
    name = sidecar.ref.htj2k_blob(sidecar.version)
    size = sum(length for _, length in sidecar.htj2k_frames)
    await storage.blobs.put(name, bytes(range(256)) * (size // 256 + 1), "application/octet-stream")
    changed = await http.get(f"{url}/frames/3", headers={"accept": single, "range": "bytes=0-9"})
    assert changed.content == bytes((offset + i) % 256 for i in range(10))


async def test_the_instance_and_other_frame_syntaxes_are_served_from_the_file(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    url, _, data = await _stored(http, storage, MULTIFRAME)
    stored = await http.get(url, headers={"accept": "application/dicom"})
    assert stored.content == data
    native = await http.get(f"{url}/frames/2", headers={"accept": "application/octet-stream"})
    assert native.content == dcmread(io.BytesIO(data)).pixel_array[1].astype("<u2").tobytes()


async def test_verify_finds_nothing_to_repair_beside_the_copies(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    await _stored(http, storage, MULTIFRAME)
    report = await verify(storage, repair=False)
    assert report.findings == []


async def test_the_copy_goes_with_its_version(http: httpx.AsyncClient, storage: Clients) -> None:
    url, sidecar, _ = await _stored(http, storage, JPEG_LS)
    name = sidecar.ref.htj2k_blob(sidecar.version)
    assert await storage.blobs.exists(name)
    study = url.split("/series/")[0]
    assert (await http.delete(study)).status_code == 204
    assert not await storage.blobs.exists(name)


async def test_pixels_that_htj2k_cannot_hold_are_stored_without_a_copy(
    http: httpx.AsyncClient, storage: Clients
) -> None:
    # 32-bit pixels: no HTJ2K encoder here writes more than 16 bits, and the store goes on.
    url, sidecar, _ = await _stored(http, storage, "rtdose_1frame.dcm")
    assert sidecar.htj2k_frames is None
    assert not await storage.blobs.exists(sidecar.ref.htj2k_blob(sidecar.version))
    assert (await http.get(url, headers={"accept": "application/dicom"})).status_code == 200
