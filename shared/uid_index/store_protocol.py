"""The store protocol in one place: claim, files, commit, and undo when any step fails.

Store runs all of it (``store_copy``); rebuild and repair, which find the files already written,
run its last step alone (``commit_sidecar``). The order and why it is safe are in
``shared.uid_index.index``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from shared.storage.blob_store import BlobStore
from shared.storage.errors import StorageUnavailable
from shared.uid_index.documents import IndexRecord
from shared.uid_index.index import LEASE_SECONDS, Claim, Index, InstanceConflict, StoredInstance
from shared.uid_index.keys import InstanceRef
from shared.uid_index.refresh_due import SeriesToRefresh
from shared.uid_index.sidecar import Sidecar
from shared.uid_index.tag_index import TagRegistry


class Lease:
    """The claim a store holds while its files are written, renewed before it can run out.

    The claim is sent only when something waits for it (``held``): a larger file before its
    first block, an HTJ2K copy before it is made. A store whose files each go in one upload may
    then skip the claim altogether (``Index.commit_new``); one that does not send it until its
    files are written claims under the same version, whose files are already in place.
    """

    def __init__(self, index: Index, claim: Callable[[], Awaitable[Claim]]) -> None:
        self._index, self._claim = index, claim
        self._claiming: asyncio.Future[Claim] | None = None
        self._renewed = time.monotonic()

    @property
    def requested(self) -> bool:
        """Whether the claim was sent."""
        return self._claiming is not None

    def request(self) -> asyncio.Future[Claim]:
        """Send the claim, if it was not sent yet; the claim as it will be made."""
        if self._claiming is None:
            self._claiming = asyncio.ensure_future(self._claim())
            self._renewed = time.monotonic()
        return self._claiming

    async def held(self) -> Claim:
        """The claim, once made; InstanceConflict when it was refused."""
        return await self.request()

    async def keep(self) -> None:
        """Call as the upload goes: renews the claim once a third of its lease has passed."""
        claiming = self._claiming
        if (
            claiming is not None
            and claiming.done()
            and time.monotonic() - self._renewed > LEASE_SECONDS / 3
        ):
            await self._index.renew(await claiming)
            self._renewed = time.monotonic()

    async def settled(self) -> Claim | None:
        """The claim once its request has ended; None if it was never sent, refused or failed."""
        if self._claiming is None:
            return None
        with contextlib.suppress(BaseException):
            return await asyncio.shield(self._claiming)
        return None


WriteFiles = Callable[[Lease], Awaitable[Sidecar]]


async def store_copy(
    index: Index,
    blobs: BlobStore,
    ref: InstanceRef,
    version: str,
    *,
    upsert: bool,
    registry: Callable[[], Awaitable[TagRegistry]],
    write_files: WriteFiles,
    to_refresh: SeriesToRefresh,
    updating: StoredInstance | None = None,
) -> None:
    """Write ``ref``'s files under ``version`` and commit them, claimed first unless they went
    in one upload each and the instance has no entry yet (``Lease``); undo whatever fails.

    With ``updating``, the copy is a bulk update's of that stored copy, claimed only while it is
    still the instance's (``Index.claim_update``).

    The instance is indexed on the extended query tags ``registry`` gives. ``write_files`` writes
    the file and the sidecar, keeping the lease, and returns the sidecar. The series goes into
    ``to_refresh`` just before the commit is sent, and the commit carries the series'
    refresh-due marker when ``to_refresh`` says it must (``refresh_due``). Raises
    InstanceConflict when the instance cannot be stored now (at claim, renew or commit), and
    whatever else ended it.
    """
    lease = Lease(
        index,
        lambda: (
            index.claim(ref, version, upsert=upsert)
            if updating is None
            else index.claim_update(updating, version)
        ),
    )
    if upsert or updating is not None:
        # What it replaces is known only to the claim, so it goes with the files from the start.
        lease.request()
    committing = False
    try:
        sidecar = await write_files(lease)
        read = await registry()
        record = IndexRecord.from_sidecar(sidecar, read.tags, read.generation)
        marker_lease = to_refresh.marker_lease(ref.series)
        leftovers: list[str] = []
        committing = not lease.requested
        if not (committing and await index.commit_new(record, refresh_marker_lease=marker_lease)):
            # Claimed from the start, or the instance has an entry (then nothing was written).
            committing = False
            claim = await lease.held()
            committing = True
            leftovers = await index.commit(claim, record, refresh_marker_lease=marker_lease)
        if marker_lease is not None:
            to_refresh.marked(ref.series, marker_lease)
    except BaseException as exc:
        # A conflict is definite: the index does not point at this version. A commit that timed
        # out may still have landed: then its files must stay. When storage is down, deleting
        # would only wait out more retries before the client hears 503. Files kept either way
        # are orphans, which verification finds and removes.
        unavailable = isinstance(exc, StorageUnavailable)
        keep = not isinstance(exc, InstanceConflict) and (committing or unavailable)
        await _undo(index, blobs, ref, version, await lease.settled(), keep_files=keep)
        raise
    if leftovers:
        with contextlib.suppress(Exception):
            await blobs.delete(name for v in leftovers for name in ref.version_blobs(v))


async def _undo(
    index: Index,
    blobs: BlobStore,
    ref: InstanceRef,
    version: str,
    claim: Claim | None,
    *,
    keep_files: bool,
) -> None:
    """Remove what a failed store wrote, best effort: leftovers are found by verification.

    The claim, if it was made, is released only if it is still ours unchanged (etag), so a
    commit that did land is never undone.
    """
    if not keep_files:
        with contextlib.suppress(Exception):
            await blobs.delete(ref.version_blobs(version))
    if claim is not None:
        with contextlib.suppress(Exception):
            await index.release(claim)


async def commit_sidecar(index: Index, sidecar: Sidecar) -> None:
    """Index a copy whose files are in storage as committed: what a store that died after
    writing them would have made visible."""
    registry = await index.registry()
    await index.put_committed(IndexRecord.from_sidecar(sidecar, registry.tags, registry.generation))
