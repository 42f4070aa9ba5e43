"""Grouping DICOM files into STOW requests, bounded by count and by size.

The count bound keeps a failed request cheap to retry and its per-instance answer small; the size
bound keeps a request under a server's body limit and keeps a retry from resending much. A file
larger than the size bound travels alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cli.sources import DicomFile, Found, Rejected

DEFAULT_BATCH = 10
DEFAULT_BATCH_BYTES = 32 * 1024 * 1024

Batch = list[DicomFile]


def batched(
    found: Iterable[Found], max_count: int = DEFAULT_BATCH, max_bytes: int = DEFAULT_BATCH_BYTES
) -> Iterator[Batch | Rejected]:
    """Batches of DICOM files in the order found; rejected files are passed on as they come.

    A batch is closed when one more file would take it past ``max_count`` files or ``max_bytes``
    bytes (counting file sizes, not the multipart framing).
    """
    if max_count < 1 or max_bytes < 1:
        raise ValueError("a batch holds at least one file of at least one byte")
    batch: Batch = []
    size = 0
    for item in found:
        if isinstance(item, Rejected):
            yield item
            continue
        if batch and (len(batch) == max_count or size + item.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size
    if batch:
        yield batch
