"""Every function of the app, including ones added later, checks access before doing anything."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pytest
from azure.functions.decorators.http import HttpTrigger
from starlette.requests import Request

import function_app
from functions import http
from shared.auth.access import Unauthorized

FUNCTIONS = [
    function
    for function in function_app.app.get_functions()
    if isinstance(function.get_trigger(), HttpTrigger)
]


class RefuseAll:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def check(
        self, method: str, authorization: Sequence[str], query_names: Collection[str]
    ) -> None:
        self.seen.append(method)
        raise Unauthorized


def test_there_are_functions() -> None:
    assert len(FUNCTIONS) >= 4


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.get_function_name())
async def test_function_refuses_before_running(
    function: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = RefuseAll()
    monkeypatch.setattr(http, "access_gate", lambda: gate)
    trigger = function.get_trigger()  # type: ignore[attr-defined]
    method = str(getattr(trigger.methods[0], "value", trigger.methods[0]))
    # No path parameters at all: a function that ran would fail on them, not answer 401.
    scope = {"type": "http", "method": method, "path": "/", "headers": [], "query_string": b""}
    response = await function.get_user_function()(Request(scope))  # type: ignore[attr-defined]
    if function.get_function_name().startswith("method_not_allowed"):  # type: ignore[attr-defined]
        # functions/allow.py: a 405 naming the route's methods, which reads and changes nothing.
        assert response.status_code == 405 and response.headers["allow"]
        return
    assert response.status_code == 401
    assert gate.seen == [method]
    assert response.headers["www-authenticate"] == "Bearer"
