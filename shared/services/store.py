"""Store (STOW-RS): every part of a request becomes one stored instance or one failure.

Each part is streamed: its head is parsed for the UIDs, the instance is claimed in the index, and
the rest of the part flows to blob storage block by block while the frame offsets are computed.
Nothing of an instance becomes visible before its file and sidecar are written (see
``shared.uid_index.index`` for the order and why it is safe under retries and crashes).

Whatever ends a request, the series and study aggregates above every instance it committed are
refreshed before it answers, so a stored instance is never retrievable yet missing from search.
Should the process die before that, the series' refresh-due markers, written with their first
commits, have the sweep refresh them (``shared.uid_index.refresh_due``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

from pydicom import Dataset

from shared.clients import Clients
from shared.dicom.dicom_json import to_dicom_json
from shared.dicom.instance_parser import InstanceParser, InvalidInstance, ParsedInstance
from shared.dicom.validation import FAILURE_VALIDATION, validate_instance
from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from shared.services.frame_prefetch import remember
from shared.services.htj2k_copy import write_htj2k_copy
from shared.services.overlapped_parts import overlapped
from shared.services.partitions import record_partition
from shared.services.reindex import catch_up
from shared.services.retrieve_scope import keep_sidecar
from shared.uid_index.index import ALREADY_EXISTS, InstanceConflict, StoredInstance
from shared.uid_index.keys import InstanceRef, new_version
from shared.uid_index.refresh_due import SeriesToRefresh
from shared.uid_index.sidecar import OriginalCopy, Sidecar, bulk_data_path
from shared.uid_index.store_protocol import Lease, store_copy
from shared.uid_index.tag_index import TagRegistry
from shared.uid_index.tag_values import TagValues
from shared.web.media_types import MediaType, split_media_type
from shared.web.multipart import MultipartError, read_parts

log = logging.getLogger(__name__)

PROCESSING_FAILURE = 272

PARTS_IN_FLIGHT = 4
"""Parts being stored at once: the next is read while earlier ones write their last blobs and
commit (``overlapped_parts``); of files larger than one block, one at a time."""

DICOM = "application/dicom"


@dataclass(frozen=True)
class StoreOptions:
    api_version: int
    partition: str
    study_uid: str | None
    upsert: bool
    htj2k_copy: bool = False
    """Write an HTJ2K copy of the pixel data beside the file (``htj2k_copy``)."""
    updating: StoredInstance | None = None
    """The stored copy a bulk update's changed file replaces (``bulk_update``): the new copy
    is committed only while that one is still the instance's, and names its original."""


@dataclass
class Outcome:
    """The result for one part, as the response dataset reports it."""

    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    failure: int | None = None
    comments: tuple[str, ...] = ()


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
) -> Outcome:
    return Outcome(
        sop_class_uid=_text(ds, "SOPClassUID"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        failure=failure,
        comments=comments,
    )


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    async for _ in chunks:
        pass


@dataclass
class StoreRequest:
    """What the parts of one request share."""

    to_refresh: SeriesToRefresh
    registry_read: asyncio.Future[TagRegistry]
    """The extended query tags as read when the request began: read while its first part
    arrives, awaited once a part needs them (its sidecar is made)."""
    stored: list[InstanceRef] = field(default_factory=list)
    """The instances the request committed (or found committed by an earlier attempt)."""

    @classmethod
    def begin(cls, clients: Clients, registry: TagRegistry | None = None) -> StoreRequest:
        """A request indexing on ``registry``, or on the process's recent registry read
        (``shared.uid_index.registry_reads``: the catch-up makes up for its age)."""
        read: asyncio.Future[TagRegistry]
        if registry is None:
            read = asyncio.ensure_future(clients.registry_reads.recent())
        else:
            read = asyncio.get_running_loop().create_future()
            read.set_result(registry)
        return cls(SeriesToRefresh(clients.index), read)

    async def registry(self) -> TagRegistry:
        return await self.registry_read

    async def finish(self, clients: Clients) -> None:
        """Make what the request committed fully visible: its aggregates refreshed and, if tags
        were added since the registry it indexed on was read, its instances caught up on them
        (at once: each refreshes what it changes). Called once no commit is in flight."""
        if not self.registry_read.done():
            self.registry_read.cancel()
        elif self.registry_read.exception() is None and self.stored:
            read = self.registry_read.result()
            current = clients.registry_reads.sent_after(time.monotonic())
            caught_up = catch_up(clients, self.stored, read, current)
            await _together(caught_up, self.to_refresh.refresh())
            return
        await self.to_refresh.refresh()


class InvalidTagValue(Exception):
    """API v1: an extended query tag's value does not fit its VR, so the instance is refused."""

    def __init__(self, messages: tuple[str, ...]) -> None:
        super().__init__(*messages)
        self.messages = messages


async def store_instance(
    chunks: AsyncIterator[bytes],
    options: StoreOptions,
    clients: Clients,
    request: StoreRequest,
    proceed: Callable[[], None] = lambda: None,
) -> Outcome:
    """Store one part; a problem with this instance alone becomes its failure reason.

    The instance's series goes into ``request.to_refresh`` before its commit is sent: its
    aggregates, and its study's, are refreshed before the request answers. ``proceed`` is called
    once the next part may be read (``overlapped_parts``): when this part's body is read, if its
    file goes in one upload; else once its blocks are committed, so that one large part at a
    time holds blocks in memory.
    """
    with InstanceParser() as parser:
        return await _store_parsed(parser, chunks, options, clients, request, proceed)


async def _store_parsed(
    parser: InstanceParser,
    chunks: AsyncIterator[bytes],
    options: StoreOptions,
    clients: Clients,
    request: StoreRequest,
    proceed: Callable[[], None],
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
    tag_warnings: tuple[str, ...] = ()

    async def write_files(lease: Lease) -> Sidecar:
        nonlocal tag_warnings
        writer = clients.blobs.writer(ref.file_blob(version), DICOM, lease.held)
        try:
            for block in parser.buffered():
                await writer.write(block)
            async for chunk in chunks:
                parser.feed(chunk)
                await writer.write(chunk)
                await lease.keep()
            finished = parsed or parser.finish()
            if writer.in_one_upload:
                proceed()
            sidecar = _sidecar(
                ref, version, finished, validation.invalid_tags, _original(options.updating)
            )
            tag_warnings = TagValues.of((await request.registry()).tags, sidecar.metadata).messages
            if tag_warnings and options.api_version < 2:
                # Refused before the file is committed: nothing of it is left to undo.
                raise InvalidTagValue(tag_warnings)
            name = ref.sidecar_blob(version)
            if options.htj2k_copy:
                # The copy is made from the stored file, and the sidecar names it: the file,
                # then the copy, then the sidecar.
                await writer.commit()
                await lease.held()  # no copy made for a store refused at its claim
                copy = await write_htj2k_copy(clients.blobs, sidecar, lease.keep)
                sidecar = replace(sidecar, htj2k_frames=copy)
                data = sidecar.to_bytes()
                await clients.blobs.put(name, data, "application/json")
            else:
                data = sidecar.to_bytes()
                # At once: a copy counts only once both blobs exist (rebuild and verify ask for
                # both), and the commit that makes it visible waits for both.
                await _together(writer.commit(), clients.blobs.put(name, data, "application/json"))
            proceed()
        except BaseException:
            with contextlib.suppress(Exception):
                await writer.abort()
            raise
        keep_sidecar(name, data, sidecar)
        remember(StoredInstance(ref, version, sidecar.transfer_syntax_uid, sidecar.size))
        return sidecar

    await record_partition(clients.index, options.partition)
    try:
        await store_copy(
            clients.index,
            clients.blobs,
            ref,
            version,
            upsert=options.upsert,
            registry=request.registry,
            write_files=write_files,
            to_refresh=request.to_refresh,
            updating=options.updating,
        )
    except InstanceConflict as exc:
        if exc.reason == ALREADY_EXISTS:
            # A retry of a request whose first attempt died after committing this instance.
            request.to_refresh.add(ref.series)
            request.stored.append(ref)
        await _drain(chunks)
        return _outcome_for(ds, failure=exc.reason)
    except InvalidInstance as exc:
        return _outcome_for(ds, failure=PROCESSING_FAILURE, comments=(str(exc),))
    except InvalidTagValue as exc:
        return _outcome_for(ds, failure=FAILURE_VALIDATION, comments=exc.messages)
    request.stored.append(ref)
    return _outcome_for(ds, comments=(*validation.warnings, *tag_warnings))


async def _together(*steps: Awaitable[object]) -> None:
    """Run the steps at once; raise the first failure only once all have ended, so that no
    write is still in flight when a failed store undoes what it wrote."""
    for result in await asyncio.gather(*steps, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result


def _original(updating: StoredInstance | None) -> OriginalCopy | None:
    """The original an update's copy names: the one the updated copy names, or itself."""
    if updating is None:
        return None
    return updating.original or OriginalCopy(updating.version, updating.size)


def _sidecar(
    ref: InstanceRef,
    version: str,
    parsed: ParsedInstance,
    invalid_tags: frozenset[int],
    original: OriginalCopy | None = None,
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
        original=original,
    )


async def store(
    parts: AsyncIterator[AsyncIterator[bytes]], options: StoreOptions, clients: Clients
) -> list[Outcome]:
    """Store every part; whatever ends the request, make what it committed fully visible.

    The aggregates of the series and studies stored into are refreshed on every way out,
    duplicates included, so that a retry of a request whose first attempt died after committing its
    instances still converges to exact counts.

    When the body itself breaks off (broken framing, a part that is not DICOM, the size limit)
    after instances were stored, the answer reports them, and the part where it broke as a
    processing failure: retrying the same body cannot help, so the client must learn what was
    stored. With nothing stored, the request's own error is the answer. Storage unavailable and
    unexpected errors stay request errors (503, 500) whatever was stored: the outcome of the part
    in flight is unknown, and the retry reports the stored parts as 45070.

    The instances are indexed on the extended query tags registered when the request began; any
    added since are caught up on before it answers (``shared.services.reindex.catch_up``).
    """
    outcomes: list[Outcome] = []
    request = StoreRequest.begin(clients)

    async def one(chunks: AsyncIterator[bytes], proceed: Callable[[], None]) -> Outcome:
        return await store_instance(chunks, options, clients, request, proceed)

    try:
        try:
            outcomes, failure = await overlapped(parts, one, PARTS_IN_FLIGHT)
            if failure is not None:
                raise failure
        except MultipartError as exc:
            raise BadRequest(f"malformed multipart body: {exc}") from exc
    except (BadRequest, UnsupportedMediaType, PayloadTooLarge) as exc:
        if all(o.failure is not None for o in outcomes):
            raise
        outcomes.append(Outcome(failure=PROCESSING_FAILURE, comments=(exc.message,)))
    finally:
        await request.finish(clients)
    return outcomes
