"""How a (study, series, instance) triple maps to storage names.

UIDs can embed patient data, so they never appear in clear in blob names or Cosmos document ids
(both show up in logs and metrics). Names are SHA-256 digests of the UIDs, which keeps every
look-up O(1) without consulting the index. Digests are domain-separated by level and include the
data partition, so the same UIDs in two partitions never collide.

Blob layout, inside one container::

    {partition}/{study}/{series}/{instance}/{version}.dcm    the file exactly as received
    {partition}/{study}/{series}/{instance}/{version}.json   ingest sidecar (metadata, frames)
    {partition}/{study}/{series}/{instance}/{version}.thumbnail.jpg   cached default thumbnail

where each of study, series, instance is a 32-hex-digit digest. Listing ``{partition}/{study}/``
yields a whole study, which is what rebuilding and deleting a study need. Beside the partitions,
``extendedquerytags.json`` mirrors the extended query tags (``QUERY_TAGS_BLOB``).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

FILE_KIND = "dcm"
SIDECAR_KIND = "json"
THUMBNAIL_KIND = "thumbnail.jpg"
HTJ2K_KIND = "htj2k"
"""An optional HTJ2K copy of the pixel data, its frames one after the other, made at ingest."""

QUERY_TAGS_BLOB = "extendedquerytags.json"
"""The mirror of the extended query tags: at the container's root, outside every partition, so
listing a partition never meets it and ``parse_blob_name`` takes it for no instance's."""
COPY_KINDS = frozenset({FILE_KIND, SIDECAR_KIND})
"""The blobs that make a stored copy complete. A thumbnail is derived from them on demand, so
a copy without one is whole, and one without them is left over."""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("ascii", "surrogateescape")).hexdigest()[:32]


def partition_key(name: str) -> str:
    """The digest that names a data partition in the index, whatever characters its name has."""
    return _digest("partition", name)


def blob_name(instance_prefix: str, version: str, kind: str) -> str:
    """The blob of one ``kind`` of one stored copy, under an instance's ``blob_prefix``."""
    return f"{instance_prefix}{version}.{kind}"


def doc_id(level: str, key: str) -> str:
    """The Cosmos document id of a study, series or instance with digest ``key``."""
    return f"{level}-{key}"


class _Level:
    """What every level derives from its digest alone: its document id and its blob folder.

    A level's digest covers the partition and the UIDs of the level and all above it, tagged with
    the level's name (``LEVEL``); its folder sits in its parent's.
    """

    LEVEL: ClassVar[str]

    def _uids(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _parent_prefix(self) -> str:
        raise NotImplementedError

    @property
    def key(self) -> str:
        return _digest(self.LEVEL, *self._uids())

    @property
    def doc_id(self) -> str:
        return doc_id(self.LEVEL, self.key)

    @property
    def blob_prefix(self) -> str:
        return f"{self._parent_prefix()}{self.key}/"


@dataclass(frozen=True)
class StudyRef(_Level):
    """A study; its ``key`` is the Cosmos partition key value: one study's documents live
    together."""

    LEVEL: ClassVar[str] = "study"
    partition: str
    study_uid: str

    def _uids(self) -> tuple[str, ...]:
        return (self.partition, self.study_uid)

    def _parent_prefix(self) -> str:
        return f"{self.partition}/"


@dataclass(frozen=True)
class SeriesRef(_Level):
    LEVEL: ClassVar[str] = "series"
    study: StudyRef
    series_uid: str

    def _uids(self) -> tuple[str, ...]:
        return (*self.study._uids(), self.series_uid)

    def _parent_prefix(self) -> str:
        return self.study.blob_prefix


@dataclass(frozen=True)
class InstanceRef(_Level):
    LEVEL: ClassVar[str] = "instance"
    series: SeriesRef
    sop_instance_uid: str

    @classmethod
    def of(cls, partition: str, study_uid: str, series_uid: str, sop_uid: str) -> InstanceRef:
        return cls(SeriesRef(StudyRef(partition, study_uid), series_uid), sop_uid)

    @property
    def study(self) -> StudyRef:
        return self.series.study

    def _uids(self) -> tuple[str, ...]:
        return (*self.series._uids(), self.sop_instance_uid)

    def _parent_prefix(self) -> str:
        return self.series.blob_prefix

    def file_blob(self, version: str) -> str:
        return blob_name(self.blob_prefix, version, FILE_KIND)

    def sidecar_blob(self, version: str) -> str:
        return blob_name(self.blob_prefix, version, SIDECAR_KIND)

    def thumbnail_blob(self, version: str) -> str:
        return blob_name(self.blob_prefix, version, THUMBNAIL_KIND)

    def htj2k_blob(self, version: str) -> str:
        return blob_name(self.blob_prefix, version, HTJ2K_KIND)

    def version_blobs(self, version: str) -> list[str]:
        """Every blob of one stored copy, deleted together. The thumbnail is made on first
        request and the HTJ2K copy only when configured, so they may not exist; deletes tolerate
        missing blobs."""
        return [
            self.file_blob(version),
            self.sidecar_blob(version),
            self.thumbnail_blob(version),
            self.htj2k_blob(version),
        ]


def new_version() -> str:
    """A fresh, time-ordered version id for one stored copy of an instance.

    Every store writes under a new version, so a replace or a racing duplicate never overwrites
    bytes a reader may be streaming; the index says which version is current. Sorting version
    ids orders them by creation time, which is how a rebuild picks the newest copy.
    """
    return f"{time.time_ns() // 1000:016x}{os.urandom(4).hex()}"


def version_time(version: str) -> datetime:
    """When a stored copy was written, read from its version id (``new_version``)."""
    return datetime.fromtimestamp(int(version[:16], 16) / 1e6, UTC)


def version_after(previous: str) -> str:
    """A new version id that sorts after ``previous`` even if this host's clock is behind the
    one that made it (an empty ``previous`` is before every version)."""
    fresh = new_version()
    if fresh > previous:
        return fresh
    return f"{int(previous[:16], 16) + 1:016x}{os.urandom(4).hex()}"


_BLOB_NAME = re.compile(
    r"^(?P<partition>[A-Za-z0-9._-]+)/(?P<study>[0-9a-f]{32})/(?P<series>[0-9a-f]{32})/"
    r"(?P<instance>[0-9a-f]{32})/(?P<version>[0-9a-f]{24})\.(?P<kind>dcm|json|thumbnail\.jpg|htj2k)$"
)


@dataclass(frozen=True)
class BlobName:
    """A parsed blob name: which instance digest, version and kind it holds."""

    partition: str
    study_key: str
    series_key: str
    instance_key: str
    version: str
    kind: str

    @property
    def instance_prefix(self) -> str:
        return f"{self.partition}/{self.study_key}/{self.series_key}/{self.instance_key}/"


def parse_blob_name(name: str) -> BlobName | None:
    """Parse a name written by this module; None for anything else in the container."""
    m = _BLOB_NAME.match(name)
    if m is None:
        return None
    return BlobName(m["partition"], m["study"], m["series"], m["instance"], m["version"], m["kind"])
