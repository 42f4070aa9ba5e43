"""The 405 table is built from the HTTP routes the blueprints declare, and from nothing else."""

from __future__ import annotations

import azure.functions as func
from azure.functions.decorators.http import HttpTrigger
from azurefunctions.extensions.http.fastapi import Request, Response
from starlette.requests import Request as StarletteRequest

from functions.allow import METHODS, method_fallbacks, routes_and_methods

ANONYMOUS = func.AuthLevel.ANONYMOUS


async def _ok(req: Request) -> Response:
    return Response(status_code=200)


async def _on_timer(timer: func.TimerRequest) -> None:
    """A timer function: it has a trigger but no route, so it takes no part in the table."""


def _blueprint() -> func.Blueprint:
    bp = func.Blueprint()
    bp.function_name("read")(
        bp.route(route="things/{id}", methods=["GET"], auth_level=ANONYMOUS)(_ok)
    )
    bp.function_name("write")(
        bp.route(route="things/{id}", methods=[func.HttpMethod.PUT], auth_level=ANONYMOUS)(_ok)
    )
    bp.function_name("anything")(bp.route(route="any", auth_level=ANONYMOUS)(_ok))
    bp.function_name("tick")(bp.timer_trigger(schedule="0 * * * * *", arg_name="timer")(_on_timer))
    return bp


def test_routes_take_the_methods_of_their_functions_whatever_their_spelling() -> None:
    assert routes_and_methods(_blueprint()) == {
        "things/{id}": {"GET", "PUT"},
        # A function naming no methods accepts them all.
        "any": set(METHODS),
    }


async def test_the_fallback_answers_405_with_the_methods_of_the_route() -> None:
    fallbacks = method_fallbacks(_blueprint())
    app = func.FunctionApp(http_auth_level=ANONYMOUS)
    app.register_functions(fallbacks)
    (function,) = app.get_functions()
    trigger = function.get_trigger()
    assert isinstance(trigger, HttpTrigger)
    assert trigger.route == "things/{id}"
    assert trigger.methods is not None
    assert {str(m) for m in trigger.methods} == set(METHODS) - {"GET", "PUT"}
    scope = {"type": "http", "method": "DELETE", "path": "/", "headers": [], "query_string": b""}
    response = await function.get_user_function()(StarletteRequest(scope))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PUT"
