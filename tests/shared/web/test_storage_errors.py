import asyncio

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.errors import DicomwebError
from shared.storage.errors import (
    StorageUnavailable,
    StoredFileMissing,
    is_unavailable,
    unavailable_as_storage_error,
)
from shared.uid_index.cosmos.guard import is_outage, query_deadline, unavailable
from shared.uid_index.index import IndexUnavailable
from shared.web.storage_errors import as_http_error


def http_error(status: int) -> HttpResponseError:
    error = HttpResponseError(message="x")
    error.status_code = status
    return error


OUTAGES = [
    ServiceRequestError("refused"),
    TimeoutError(),
    ConnectionResetError(),
    http_error(429),
    http_error(503),
]
OTHER_ERRORS = [http_error(400), http_error(409), ValueError("bad")]


def answer_to(exc: BaseException) -> DicomwebError:
    error = as_http_error(exc)
    assert error is not None
    return error


@pytest.mark.parametrize("exc", OUTAGES)
def test_outages_become_503_with_retry_after(exc: BaseException) -> None:
    assert is_unavailable(exc)
    with pytest.raises(StorageUnavailable) as raised, unavailable_as_storage_error():
        raise exc
    answer = answer_to(raised.value)
    assert answer.status == 503
    assert answer.headers["Retry-After"]


def test_a_file_gone_since_the_index_was_read_is_not_found() -> None:
    assert answer_to(StoredFileMissing()).status == 404


@pytest.mark.parametrize("exc", [*OUTAGES, CosmosResourceNotFoundError(message="container gone")])
def test_index_outages_become_503_with_retry_after(exc: BaseException) -> None:
    assert is_outage(exc)
    with pytest.raises(IndexUnavailable) as raised, unavailable():
        raise exc
    answer = answer_to(raised.value)
    assert answer.status == 503
    assert answer.headers["Retry-After"]


@pytest.mark.parametrize("exc", OTHER_ERRORS)
def test_other_errors_pass_through(exc: BaseException) -> None:
    assert not is_unavailable(exc) and not is_outage(exc)
    with pytest.raises(type(exc)), unavailable_as_storage_error():
        raise exc
    with pytest.raises(type(exc)), unavailable():
        raise exc
    assert as_http_error(exc) is None


async def test_an_index_query_past_its_deadline_is_cancelled_and_answers_503() -> None:
    cancelled = asyncio.Event()

    async def endless_query() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(IndexUnavailable) as raised:
        async with query_deadline(0.01):
            with unavailable():
                await endless_query()
    assert cancelled.is_set()
    answer = answer_to(raised.value)
    assert answer.status == 503 and answer.headers["Retry-After"]
    assert "took longer than 0.01 s" in answer.message


async def test_work_within_its_deadline_is_untouched() -> None:
    async with query_deadline(10):
        await asyncio.sleep(0)
