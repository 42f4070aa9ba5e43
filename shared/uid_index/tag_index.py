"""The index's part in extended query tags: the registry, reindex operations, tag errors.

The registry is one document holding every registered tag, so adding a list of tags, the cap on
their number and a change of one tag are each one conditional write: two owners adding tags at
once cannot pass the cap between them, and a lost race is retried on what the other wrote.

Each instance document records the registry generation it was built with (``tagsAt``). A
registration's generation is newer than every document built before it, so "documents built
before generation g" is exactly what a reindex still has to do, and the query for them is its
own checkpoint: a reindex that dies resumes where it was by asking again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from shared.dicom.query_tags import QueryTag
from shared.uid_index.keys import InstanceRef
from shared.uid_index.tag_values import TagValues


class OperationStatus(StrEnum):
    """The states of a long-running operation, as the Azure DICOM service names them."""

    NOT_STARTED = "notStarted"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class TagRegistry:
    """The registered tags as last read, with the etag a change must be conditional on."""

    tags: tuple[QueryTag, ...] = ()
    generation: str = ""
    """The newest registration's generation: documents built before it may lack a tag."""
    etag: str | None = None
    """None when no tag was ever registered (there is no registry document yet)."""


@dataclass(frozen=True)
class TagError:
    """An instance whose value of a tag could not be indexed, and why."""

    study_uid: str
    series_uid: str
    sop_uid: str
    created: float
    message: str


@dataclass(frozen=True)
class ReindexOperation:
    """Bringing the stored instances up to the tags of one registration."""

    operation_id: str
    generation: str
    """Instances whose documents were built before this generation are still to be reindexed."""
    tag_paths: tuple[str, ...]
    status: OperationStatus
    total: int
    """Visible instances when the operation started: what ``done`` is a share of."""
    done: int
    created: float
    updated: float
    lease_until: float
    etag: str = ""


@dataclass(frozen=True)
class StaleInstance:
    """A visible instance whose document was built before some registration."""

    ref: InstanceRef
    version: str
    etag: str
    read_as: Any = field(default=None, compare=False, repr=False)
    """The implementation's copy of what was read, so a conditional rewrite needs no re-read."""


class TagIndex(Protocol):
    """What the services ask of the index about extended query tags."""

    async def registry(self) -> TagRegistry:
        """The registered tags (one point read)."""

    async def save_registry(
        self, read: TagRegistry, tags: Sequence[QueryTag], generation: str
    ) -> bool:
        """Replace the registry by ``tags`` unless it changed since ``read``; False if it did."""

    async def record_operation(self, operation: ReindexOperation) -> ReindexOperation:
        """Write a new reindex operation."""

    async def operation(self, operation_id: str) -> ReindexOperation | None:
        """A reindex operation by id; None for an id this index does not hold."""

    async def save_operation(self, operation: ReindexOperation) -> ReindexOperation | None:
        """Write ``operation`` unless it changed since it was read; None if it did."""

    async def drop_operation(self, operation: ReindexOperation) -> None:
        """Delete an operation unless it changed since it was read."""

    async def due_operations(self, now: float) -> list[ReindexOperation]:
        """Operations not completed whose lease ran out before ``now``."""

    async def visible_count(self) -> int:
        """How many instances are visible (a reindex's total)."""

    async def stale_instances(self, generation: str, limit: int) -> list[StaleInstance]:
        """Up to ``limit`` visible instances whose documents were built before ``generation``."""

    async def retag(self, instance: StaleInstance, values: TagValues, generation: str) -> bool:
        """Rewrite an instance's tag values, built at ``generation``, unless the document changed
        since it was read; False if it did."""

    async def stale_instance(self, ref: InstanceRef, generation: str) -> StaleInstance | None:
        """The instance, if it is visible and its document was built before ``generation``."""

    async def tag_errors(self, key: str, offset: int, limit: int) -> list[TagError]:
        """The visible instances whose value of the registration ``key`` failed, in id order."""

    async def error_count(self, key: str) -> int:
        """How many visible instances have an error for the registration ``key``."""
