"""Store (STOW-RS): every part of a request becomes one stored instance or one failure.

Each part is streamed: its head is parsed for the UIDs, the instance is claimed in the index, and
the rest of the part flows to blob storage block by block while the frame offsets are computed.
Nothing of an instance becomes visible before its file and sidecar are written (see
``shared.uid_index.writer`` for the order and why it is safe under retries and crashes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field

from pydicom import Dataset

from shared.blob_store import StagedBlobWriter
from shared.clients import Clients
from shared.dicom_json import to_dicom_json
from shared.errors import BadRequest, StorageUnavailable, UnsupportedMediaType
from shared.instance_parser import InstanceParser, InvalidInstance, ParsedInstance
from shared.media_types import MediaType, split_media_type
from shared.multipart import MultipartError, read_parts
from shared.storage_errors import unavailable_as_503
from shared.uid_index.documents import IndexRecord
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef, new_version
from shared.uid_index.sidecar import Sidecar, bulk_data_path
from shared.uid_index.writer import (
    ALREADY_EXISTS,
    LEASE_SECONDS,
    Claim,
    InstanceConflict,
    claim_instance,
    commit_instance,
    refresh_series,
    refresh_study,
    release_claim,
    renew_claim,
)
from shared.validation import validate_instance

log = logging.getLogger(__name__)

PROCESSING_FAILURE = 272

DICOM = "application/dicom"


@dataclass(frozen=True)
class StoreOptions:
    api_version: int
    partition: str
    study_uid: str | None
    upsert: bool


@dataclass
class Outcome:
    """The result for one part, as the response dataset reports it."""

    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    failure: int | None = None
    comments: tuple[str, ...] = ()
    ref: InstanceRef | None = field(default=None, repr=False)


def request_parts(
    content_type: str | None, body: AsyncIterable[bytes]
) -> AsyncIterator[AsyncIterator[bytes]]:
    """The instance streams of a request body: each multipart part, or the single-part body."""
    if not content_type:
        raise UnsupportedMediaType("Content-Type is required")
    try:
        media_type, pairs = split_media_type(content_type)
        params = MediaType(media_type, {n: v for n, v in pairs if n != "boundary"})
        if len(params.params) != len(pairs) - sum(n == "boundary" for n, _ in pairs):
            raise ValueError("a media type parameter is repeated")
    except ValueError as exc:
        raise UnsupportedMediaType("Content-Type is not a valid media type") from exc
    if media_type == DICOM:
        return _single(body)
    if media_type != "multipart/related":
        raise UnsupportedMediaType(
            f'Content-Type must be multipart/related; type="{DICOM}" or {DICOM}'
        )
    part_type = params.param("type")
    if part_type is not None and part_type.lower() != DICOM:
        raise UnsupportedMediaType(f"multipart/related parts must be {DICOM}")
    boundaries = [v for n, v in pairs if n == "boundary"]
    if not boundaries:
        raise BadRequest("multipart/related Content-Type has no boundary parameter")
    return _multipart(body, boundaries)


async def _opening_boundary(
    body: AsyncIterator[bytes], candidates: list[str]
) -> tuple[str, AsyncIterator[bytes]]:
    """Pick, among repeated boundary parameters, the one whose delimiter opens the body.

    ``curl --form`` appends its own boundary to a Content-Type that already names one, and frames
    the body with its own; the body itself says which is meant, so there is one reading only.
    """
    head = b""
    longest = max(len(c) for c in candidates) + 4
    async for chunk in body:
        head += chunk
        if len(head) >= 1024 + longest:
            break
    positions = {}
    for candidate in candidates:
        delimiter = b"--" + candidate.encode("latin-1")
        at = head.find(delimiter)
        if at >= 0 and (at == 0 or head[at - 1 : at] == b"\n"):
            positions[candidate] = at
    if not positions:
        raise BadRequest("the multipart body does not start with the boundary it declares")

    async def replay() -> AsyncIterator[bytes]:
        yield head
        async for chunk in body:
            yield chunk

    return min(positions, key=lambda c: positions[c]), replay()


async def _single(body: AsyncIterable[bytes]) -> AsyncIterator[AsyncIterator[bytes]]:
    yield aiter(body)


async def _multipart(
    body: AsyncIterable[bytes], boundaries: list[str]
) -> AsyncIterator[AsyncIterator[bytes]]:
    stream = aiter(body)
    boundary = boundaries[0]
    if len(boundaries) > 1:
        boundary, stream = await _opening_boundary(stream, boundaries)
    async for part in read_parts(stream, boundary):
        if part.content_type is not None and part.content_type.type not in (
            DICOM,
            "application/octet-stream",
        ):
            raise UnsupportedMediaType(f"a part has Content-Type other than {DICOM}")
        yield part.chunks()


def _text(ds: Dataset, keyword: str) -> str | None:
    """A UID for the response; None when absent or unreadable (e.g. a VR PS3.5 does not define),
    which validation has then already reported."""
    try:
        value = ds.get(keyword)
    except Exception:  # pydicom raises assorted errors for malformed values
        return None
    text = "" if value is None else str(value).rstrip("\0 ")
    return text or None


def _outcome_for(
    ds: Dataset,
    *,
    failure: int | None = None,
    comments: tuple[str, ...] = (),
    ref: InstanceRef | None = None,
) -> Outcome:
    return Outcome(
        sop_class_uid=_text(ds, "SOPClassUID"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        failure=failure,
        comments=comments,
        ref=ref,
    )


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    async for _ in chunks:
        pass


async def store_instance(
    chunks: AsyncIterator[bytes], options: StoreOptions, clients: Clients
) -> Outcome:
    """Store one part; a problem with this instance alone becomes its failure reason."""
    with InstanceParser() as parser:
        return await _store_parsed(parser, chunks, options, clients)


async def _store_parsed(
    parser: InstanceParser,
    chunks: AsyncIterator[bytes],
    options: StoreOptions,
    clients: Clients,
) -> Outcome:
    parsed: ParsedInstance | None = None
    try:
        async for chunk in chunks:
            parser.feed(chunk)
            if parser.head_ready:
                break
        else:
            parsed = parser.finish()
    except InvalidInstance as exc:
        await _drain(chunks)
        return Outcome(failure=PROCESSING_FAILURE, comments=(str(exc),))

    ds = parser.dataset
    validation = validate_instance(ds, options.api_version, options.study_uid)
    if validation.failure_reason is not None:
        await _drain(chunks)
        return _outcome_for(ds, failure=validation.failure_reason, comments=validation.failures)
    ref = InstanceRef.of(
        options.partition,
        *(str(_text(ds, k)) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")),
    )
    version = new_version()
    try:
        with unavailable_as_503():
            claim = await claim_instance(clients.index, ref, version, upsert=options.upsert)
    except InstanceConflict as exc:
        await _drain(chunks)
        return _outcome_for(ds, failure=exc.reason, ref=ref)

    writer = clients.blobs.writer(ref.file_blob(version), DICOM)
    committing = False
    try:
        for block in parser.buffered():
            await writer.write(block)
        renewed = time.monotonic()
        async for chunk in chunks:
            parser.feed(chunk)
            await writer.write(chunk)
            if time.monotonic() - renewed > LEASE_SECONDS / 3:
                with unavailable_as_503():
                    await renew_claim(clients.index, claim)
                renewed = time.monotonic()
        parsed = parsed or parser.finish()
        await writer.commit()
        sidecar = _sidecar(ref, version, parsed, validation.invalid_tags)
        await clients.blobs.put(ref.sidecar_blob(version), sidecar.to_bytes(), "application/json")
        record = IndexRecord.from_sidecar(sidecar)
        committing = True
        with unavailable_as_503():
            leftover = await commit_instance(clients.index, claim, record)
    except (InvalidInstance, InstanceConflict) as exc:
        # Definite outcomes: the index does not point at this version.
        await _undo(clients, ref, version, claim, writer, keep_files=False)
        if isinstance(exc, InstanceConflict):
            return _outcome_for(ds, failure=exc.reason)
        return _outcome_for(ds, failure=PROCESSING_FAILURE, comments=(str(exc),))
    except BaseException as exc:
        # A commit that timed out may still have landed: then its files must stay. When storage
        # is down, deleting would only wait out more retries before the client hears 503. Files
        # kept either way are orphans, which verification finds and removes.
        keep = committing or isinstance(exc, StorageUnavailable)
        await _undo(clients, ref, version, claim, writer, keep_files=keep)
        raise
    if leftover is not None:
        with contextlib.suppress(Exception):
            await clients.blobs.delete(ref.version_blobs(leftover))
    return _outcome_for(ds, comments=validation.warnings, ref=ref)


def _sidecar(
    ref: InstanceRef, version: str, parsed: ParsedInstance, invalid_tags: frozenset[int]
) -> Sidecar:
    metadata = to_dicom_json(parsed.dataset, bulk_data_path, pixel_data=parsed.pixel_data)
    frames = (
        None
        if parsed.frames is None
        else [[list(r) for r in frame.ranges] for frame in parsed.frames]
    )
    pixel = parsed.pixel_data
    return Sidecar(
        ref=ref,
        version=version,
        sop_class_uid=str(_text(parsed.dataset, "SOPClassUID")),
        transfer_syntax_uid=parsed.transfer_syntax_uid,
        size=parsed.size,
        metadata=metadata,
        frames=frames,
        pixel_data=None
        if pixel is None
        else {
            "tag": f"{pixel.tag:08X}",
            "offset": pixel.value_offset,
            "length": pixel.value_length,
            "encapsulated": pixel.encapsulated,
        },
        excluded_tags=tuple(sorted(f"{t:08X}" for t in invalid_tags)),
    )


async def _undo(
    clients: Clients,
    ref: InstanceRef,
    version: str,
    claim: Claim,
    writer: StagedBlobWriter,
    *,
    keep_files: bool,
) -> None:
    """Remove what a failed store wrote, best effort: leftovers are found by verification.

    The claim is released only if it is still ours unchanged (etag), so a commit that did land
    is never undone.
    """
    with contextlib.suppress(Exception):
        await writer.abort()
    if not keep_files:
        with contextlib.suppress(Exception):
            await clients.blobs.delete(ref.version_blobs(version))
    with contextlib.suppress(Exception):
        await release_claim(clients.index, claim)


async def store(
    parts: AsyncIterator[AsyncIterator[bytes]], options: StoreOptions, clients: Clients
) -> list[Outcome]:
    """Store every part, then bring the touched series and study aggregates up to date.

    Aggregates are refreshed for duplicates too, so that a retry of a request whose first attempt
    died after committing its instances still converges to exact counts.
    """
    try:
        outcomes = [await store_instance(chunks, options, clients) async for chunks in parts]
    except MultipartError as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from exc
    touched = [o.ref for o in outcomes if o.ref is not None and o.failure in (None, ALREADY_EXISTS)]
    series: dict[str, SeriesRef] = {r.series.key: r.series for r in touched}
    studies: dict[str, StudyRef] = {r.study.key: r.study for r in touched}
    with unavailable_as_503():
        await asyncio.gather(*(refresh_series(clients.index, s) for s in series.values()))
        await asyncio.gather(*(refresh_study(clients.index, s) for s in studies.values()))
    return outcomes
