import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.errors import StorageUnavailable
from shared.storage_errors import is_unavailable, unavailable_as_503


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
