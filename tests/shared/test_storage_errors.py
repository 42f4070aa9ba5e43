import asyncio

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.errors import StorageUnavailable
from shared.storage_errors import is_unavailable, query_deadline, unavailable_as_503


def http_error(status: int) -> HttpResponseError:
    error = HttpResponseError(message="x")
    error.status_code = status
    return error


@pytest.mark.parametrize(
    "exc",
    [
        ServiceRequestError("refused"),
        TimeoutError(),
        ConnectionResetError(),
        http_error(429),
        http_error(503),
        CosmosResourceNotFoundError(message="container gone"),
    ],
)
def test_outages_become_503_with_retry_after(exc: BaseException) -> None:
    assert is_unavailable(exc)
    with pytest.raises(StorageUnavailable) as raised, unavailable_as_503():
        raise exc
    assert raised.value.status == 503
    assert raised.value.headers["Retry-After"]


@pytest.mark.parametrize("exc", [http_error(400), http_error(409), ValueError("bad")])
def test_other_errors_pass_through(exc: BaseException) -> None:
    assert not is_unavailable(exc)
    with pytest.raises(type(exc)), unavailable_as_503():
        raise exc


async def test_an_index_query_past_its_deadline_is_cancelled_and_answers_503() -> None:
    cancelled = asyncio.Event()

    async def endless_query() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(StorageUnavailable) as raised:
        async with query_deadline(0.01):
            with unavailable_as_503():
                await endless_query()
    assert cancelled.is_set()
    assert raised.value.status == 503 and raised.value.headers["Retry-After"]
    assert "took longer than 0.01 s" in raised.value.message


async def test_work_within_its_deadline_is_untouched() -> None:
    async with query_deadline(10):
        await asyncio.sleep(0)
