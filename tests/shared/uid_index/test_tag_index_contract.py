"""The index's contract for extended query tags, case by case, on the Cosmos DB emulator: the
registry's conditional writes, reindex operations, stale documents, retagging races, errors.

The registry is the archive's: each case restores the one it found, and records no operation the
host's sweep could take up (leases in the future; due operations asked for with a later clock).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from shared.clients import Clients
from shared.dicom.query_tags import QueryTag, TagLevel
from shared.uid_index.index import Index
from shared.uid_index.keys import new_version
from shared.uid_index.tag_index import OperationStatus, ReindexOperation, TagRegistry
from shared.uid_index.tag_values import TagValues
from tests.shared.uid_index.test_index_contract import fresh_instance, record

pytestmark = pytest.mark.integration


@pytest.fixture
async def index(storage: Clients) -> AsyncIterator[Index]:
    found = await storage.index.registry()
    yield storage.index
    current = await storage.index.registry()
    assert await storage.index.save_registry(current, found.tags, found.generation)


def age_tag() -> QueryTag:
    return QueryTag("00101010", "AS", TagLevel.STUDY, new_version())


async def test_a_first_registry_is_created_once(index: Index) -> None:
    if (await index.registry()).etag is not None:
        pytest.skip("the archive already has a registry document")
    tag = age_tag()
    assert await index.save_registry(TagRegistry(), [tag], tag.generation)
    assert not await index.save_registry(TagRegistry(), [], "")


async def test_the_registry_changes_only_as_last_read(index: Index) -> None:
    read = await index.registry()
    tag = age_tag()
    assert await index.save_registry(read, (*read.tags, tag), tag.generation)
    other = replace(age_tag(), path="00181030", vr="LO")
    # A writer that read before the first change loses, and learns it.
    assert not await index.save_registry(read, (*read.tags, other), other.generation)
    now = await index.registry()
    assert now.tags == (*read.tags, tag) and now.generation == tag.generation
    assert now.etag not in (None, read.etag)
    assert await index.save_registry(now, read.tags, read.generation)


async def test_documents_built_before_a_generation_are_stale_until_retagged(index: Index) -> None:
    ref = fresh_instance()
    version = new_version()
    await index.commit(await index.claim(ref, version, upsert=False), record(ref, version))
    tag = age_tag()
    stale = await index.stale_instance(ref, tag.generation)
    assert stale is not None and (stale.ref, stale.version) == (ref, version)
    listed = await index.stale_instances(tag.generation, 10_000)
    assert ref in {s.ref for s in listed}

    metadata = {"00101010": {"vr": "AS", "Value": ["35 years"]}}
    values = TagValues.of([tag], metadata)
    assert await index.retag(stale, values, tag.generation)
    assert await index.stale_instance(ref, tag.generation) is None
    # The document changed since ``stale`` was read: a second rewrite from it is refused.
    assert not await index.retag(stale, values, tag.generation)
    assert await index.error_count(tag.key) == 1
    [error] = await index.tag_errors(tag.key, 0, 10)
    assert (error.study_uid, error.series_uid, error.sop_uid) == (
        ref.study.study_uid,
        ref.series.series_uid,
        ref.sop_instance_uid,
    )
    assert error.message.startswith("(0010,1010) PatientAge: not a valid AS")
    assert await index.tag_errors(tag.key, 1, 10) == []
    # A newer registration does not see this one's errors.
    assert await index.error_count(age_tag().key) == 0


async def test_operations_are_saved_only_as_last_read(index: Index) -> None:
    now = time.time()
    operation = await index.record_operation(
        ReindexOperation(
            operation_id=f"contract-{new_version()}",
            generation=new_version(),
            tag_paths=("00101010",),
            status=OperationStatus.NOT_STARTED,
            total=0,
            done=0,
            created=now,
            updated=now,
            lease_until=now + 3600,
        )
    )
    assert await index.operation(operation.operation_id) == operation
    running = await index.save_operation(replace(operation, status=OperationStatus.RUNNING))
    assert running is not None and running.status is OperationStatus.RUNNING
    assert await index.save_operation(replace(operation, done=5)) is None
    due = await index.due_operations(now + 7200)
    assert operation.operation_id in {d.operation_id for d in due}
    assert operation.operation_id not in {d.operation_id for d in await index.due_operations(now)}
    await index.drop_operation(operation)  # stale: kept
    assert await index.operation(operation.operation_id) is not None
    await index.drop_operation(running)
    assert await index.operation(operation.operation_id) is None
