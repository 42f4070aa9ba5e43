"""What a retrieve URL names, and the stored instances behind it.

Every retrieve operation starts the same way: find the visible instances of a study, series or
instance in the index (404 when there are none), then read their ingest sidecars, which say how
each file is encoded without opening it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.errors import NotFound
from shared.pixels.transcode import PIXEL_TAGS
from shared.storage.blob_cache import BlobCache
from shared.storage.blob_store import BlobStore
from shared.uid_index.index import Index, StoredInstance
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef
from shared.uid_index.sidecar import Sidecar

SIDECARS_AHEAD = 16
"""Sidecar reads in flight for a study or series."""

SIDECAR_CACHE_BYTES = 32 * 1024 * 1024
"""Sidecars kept in memory: several thousand instances' worth (most are a few kB)."""

FRAME_VIEW_CACHE_BYTES = 16 * 1024 * 1024
"""Frame views of sidecars kept in memory (``frame_view``): well under a kilobyte for a
single-frame instance, so the frames of tens of thousands of instances are served without
reading their sidecars, far more than fit in ``SIDECAR_CACHE_BYTES`` whole."""

FRAME_TAGS = PIXEL_TAGS | {"00280008", "7FE00010"}
"""What a frame is served with besides its byte ranges: the Image Pixel attributes a decoder or
encoder needs, Number of Frames, and Pixel Data's entry (its VR says how a big endian file's
words are swapped)."""

_sidecars = BlobCache(SIDECAR_CACHE_BYTES)
_frame_views = BlobCache(FRAME_VIEW_CACHE_BYTES)


@dataclass(frozen=True)
class Scope:
    """A study, a series of it, or an instance of that, in one data partition."""

    partition: str
    study_uid: str
    series_uid: str | None = None
    sop_uid: str | None = None
    original: bool = False
    """Each instance as first stored, not as a bulk update changed it (Azure's
    ``msdicom-request-original: true``)."""

    @property
    def level(self) -> str:
        if self.series_uid is None:
            return "study"
        return "series" if self.sop_uid is None else "instance"


def index_scope(scope: Scope) -> StudyRef | SeriesRef | InstanceRef:
    """The study, series or instance a retrieve URL names, as the index names it."""
    study = StudyRef(scope.partition, scope.study_uid)
    if scope.series_uid is None:
        return study
    series = SeriesRef(study, scope.series_uid)
    return series if scope.sop_uid is None else InstanceRef(series, scope.sop_uid)


async def visible_instances(index: Index, scope: Scope) -> list[StoredInstance]:
    """The scope's created instances, as first stored if the scope asks; 404 when there are
    none."""
    found = await index.visible(index_scope(scope))
    if not found:
        raise NotFound(f"the {scope.level} is not stored")
    return [i.as_original() for i in found] if scope.original else found


def frame_view(sidecar: Sidecar) -> Sidecar:
    """The sidecar as a frame retrieve uses it: its metadata cut to ``FRAME_TAGS``."""
    metadata = {tag: value for tag, value in sidecar.metadata.items() if tag in FRAME_TAGS}
    return replace(sidecar, metadata=metadata)


def _keep_frame_view(name: str, sidecar: Sidecar) -> Sidecar:
    view = frame_view(sidecar)
    _frame_views.put(name, view.to_bytes())
    return view


def keep_sidecar(name: str, data: bytes, sidecar: Sidecar) -> None:
    """Keep a sidecar this process has just written (``data``, as ``sidecar`` says): the first
    retrieve of a freshly stored instance then reads no sidecar either (the name is its
    version's, so it never goes stale); its frame view is kept longer."""
    _sidecars.put(name, data)
    _keep_frame_view(name, sidecar)


def cached_frame_view(instance: StoredInstance) -> Sidecar | None:
    """The frame view of the instance's sidecar if this process holds it, without reading
    storage."""
    name = instance.sidecar_blob
    view = _frame_views.get(name)
    if view is not None:
        return Sidecar.from_bytes(view)
    data = _sidecars.get(name)
    return None if data is None else _keep_frame_view(name, Sidecar.from_bytes(data))


async def read_frame_view(blobs: BlobStore, instance: StoredInstance) -> Sidecar:
    """The frame view of the instance's sidecar, read from storage only when this process holds
    neither it nor the whole sidecar."""
    found = cached_frame_view(instance)
    if found is not None:
        return found
    return _keep_frame_view(instance.sidecar_blob, await read_sidecar(blobs, instance))


async def read_sidecar(blobs: BlobStore, instance: StoredInstance) -> Sidecar:
    """The instance's sidecar, from memory when this version was read before (see blob_cache)."""
    name = instance.sidecar_blob
    data = _sidecars.get(name)
    if data is None:
        data = await blobs.get(name)
        if data is None:
            # The index pointed at a version that a replace or delete has just removed.
            raise NotFound("a stored instance is no longer available")
        _sidecars.put(name, data)
    return Sidecar.from_bytes(data)
