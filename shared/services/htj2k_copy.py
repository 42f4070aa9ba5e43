"""An HTJ2K copy of an instance's pixel data, made at ingest when configured.

Viewers such as OHIF ask for frames in HTJ2K, whose RPCL progression lets them paint a coarse
image from a frame's first bytes. Made at ingest, the copy turns each such frame request into a
ranged read instead of a decode and an encode. The original file is kept as it came and stays
the one served for everything else; the copy is lossless (HTJ2K RPCL lossless), so a frame
from it decodes to the original pixels.

The copy is written after the file and before the sidecar, which lists each frame's byte range
in it: a sidecar names only a copy that exists, and a store that dies before its sidecar
leaves an incomplete version that the sweep, verify and rebuild treat as they treat any other.
Frames that cannot be written in HTJ2K (floating point, more than 16 bits, undecodable) get
no copy, and the store goes on without one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydicom.uid import HTJ2KLosslessRPCL

from shared.errors import DicomwebError
from shared.failure_log import log_failure
from shared.pixels.encoders import can_encode_from
from shared.pixels.transcode import pixel_attributes
from shared.services.frames import HTJ2K_COPY_SERVES, FrameSource, frame_bodies
from shared.storage.blob_store import BlobStore
from shared.uid_index.sidecar import Sidecar
from shared.web.negotiation import Rendition, frame_media_type

log = logging.getLogger("dicomweb")

_COPY = Rendition(False, frame_media_type(HTJ2KLosslessRPCL), HTJ2KLosslessRPCL)


async def write_htj2k_copy(
    blobs: BlobStore, sidecar: Sidecar, keep: Callable[[], Awaitable[None]]
) -> list[list[int]] | None:
    """Write the copy of ``sidecar``'s instance (file already stored); its frame ranges, or
    None when it has no pixel data, is stored in HTJ2K already, or cannot be written so."""
    if sidecar.pixel_data is None or sidecar.transfer_syntax_uid in HTJ2K_COPY_SERVES:
        return None
    ref, version = sidecar.ref, sidecar.version
    source = FrameSource(sidecar, ref.file_blob(version))
    try:
        attributes = pixel_attributes(sidecar.metadata)
    except DicomwebError:
        return None
    if not can_encode_from(HTJ2KLosslessRPCL, attributes, source.syntax):
        return None
    writer = blobs.writer(ref.htj2k_blob(version), "application/octet-stream")
    ranges: list[list[int]] = []
    offset = 0
    try:
        numbers = list(range(1, source.count + 1))
        async for frame in frame_bodies(blobs, source, _COPY, numbers):
            await writer.write(frame)
            ranges.append([offset, len(frame)])
            offset += len(frame)
            await keep()
        await writer.commit()
    except DicomwebError as exc:
        # The pixels do not decode: the instance is stored without a copy, as it would be
        # without the setting, and its frames get the answers they would get anyway.
        log_failure(log, "HTJ2K copy", exc)
        await writer.abort()
        return None
    except BaseException:
        await writer.abort()
        raise
    return ranges
