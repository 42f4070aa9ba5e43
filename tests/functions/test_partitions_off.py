"""With data partitions off (the default, as in Azure), every partition route answers 400."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from types import SimpleNamespace

import pytest
from starlette.requests import Request

import function_app
from functions import http, partitions
from functions.routes import http_functions

TWINS = [f for f, _ in http_functions(function_app.IN_PARTITIONS)]


class AllowAll:
    async def check(
        self, method: str, authorization: Sequence[str], query_names: Collection[str]
    ) -> None:
        return None


@pytest.fixture(autouse=True)
def partitions_off(monkeypatch: pytest.MonkeyPatch) -> None:
    off = SimpleNamespace(data_partitions=False)
    monkeypatch.setattr(http, "settings", lambda: off)
    monkeypatch.setattr(partitions, "settings", lambda: off)
    monkeypatch.setattr(http, "access_gate", lambda: AllowAll())


def _request(method: str, **path_params: str) -> Request:
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": [],
        "query_string": b"",
        "path_params": {"version": "v1", **path_params},
    }
    return Request(scope)


@pytest.mark.parametrize("function", TWINS, ids=lambda f: f.get_function_name())
async def test_every_partition_route_is_a_400(function: object) -> None:
    trigger = function.get_trigger()  # type: ignore[attr-defined]
    method = str(getattr(trigger.methods[0], "value", trigger.methods[0]))
    handler = function.get_user_function()  # type: ignore[attr-defined]
    response = await handler(_request(method, partition="Microsoft.Default"))
    assert response.status_code == 400
    assert b"data partitions are not enabled" in response.body


async def test_the_list_of_partitions_is_a_400() -> None:
    response = await partitions.retrieve_partitions(_request("GET"))  # type: ignore[operator]
    assert response.status_code == 400
