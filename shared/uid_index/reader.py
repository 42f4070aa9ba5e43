"""Reading the index for retrieve: which instances of a study, series or instance are visible.

Only ``created`` instance documents are visible: a pending claim's files may not be written yet.
Each study's documents share one Cosmos partition, so every look-up here is a single-partition
query. The emulator needs the partition key both as a request option and in the ``WHERE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.storage_errors import query_deadline, unavailable_as_503
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef

_SELECT = (
    "SELECT c.seriesUID, c.sopUID, c.version, c.transferSyntaxUID, c.size, c.q.InstanceNumber "
    "FROM c WHERE c.pk = @pk AND c.type = 'instance' AND c.status = 'created'"
)


@dataclass(frozen=True)
class StoredInstance:
    """One visible instance: where its current file and sidecar are."""

    ref: InstanceRef
    version: str
    transfer_syntax_uid: str
    size: int
    instance_number: int | None = None
    """InstanceNumber, when the instance has a whole one: the order a viewer shows a series in."""

    @property
    def file_blob(self) -> str:
        return self.ref.file_blob(self.version)

    @property
    def sidecar_blob(self) -> str:
        return self.ref.sidecar_blob(self.version)


async def _query(
    container: ContainerProxy, study: StudyRef, condition: str, **params: str
) -> list[StoredInstance]:
    parameters: list[dict[str, Any]] = [{"name": "@pk", "value": study.key}]
    parameters += [{"name": f"@{name}", "value": value} for name, value in params.items()]
    async with query_deadline():
        with unavailable_as_503():
            rows = [
                row
                async for row in container.query_items(
                    query=_SELECT + condition, parameters=parameters, partition_key=study.key
                )
            ]
    instances = [
        _stored(InstanceRef(SeriesRef(study, row["seriesUID"]), row["sopUID"]), row) for row in rows
    ]
    # A stable order, so that repeated retrieves of an unchanged study are byte-identical.
    return sorted(instances, key=lambda i: (i.ref.series.series_uid, i.ref.sop_instance_uid))


async def study_instances(container: ContainerProxy, study: StudyRef) -> list[StoredInstance]:
    return await _query(container, study, "")


async def series_instances(container: ContainerProxy, series: SeriesRef) -> list[StoredInstance]:
    return await _query(container, series.study, " AND c.seriesKey = @series", series=series.key)


async def instance(container: ContainerProxy, ref: InstanceRef) -> list[StoredInstance]:
    """The instance (a point read), as a list of zero or one so that every level is alike."""
    with unavailable_as_503():
        try:
            doc = await container.read_item(ref.doc_id, partition_key=ref.study.key)
        except CosmosResourceNotFoundError:
            return []
    if doc.get("status") != "created":
        return []
    return [_stored(ref, doc)]


def _stored(ref: InstanceRef, doc: dict[str, Any]) -> StoredInstance:
    number = doc.get("InstanceNumber", doc.get("q", {}).get("InstanceNumber"))
    return StoredInstance(
        ref,
        str(doc["version"]),
        str(doc["transferSyntaxUID"]),
        int(doc["size"]),
        number if isinstance(number, int) else None,
    )
