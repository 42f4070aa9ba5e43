"""405 Method Not Allowed, with ``Allow``, on every route of the API.

The Functions host answers 404 when a path matches a route but the method does not (it routes on
path and method together), while DICOMweb clients expect 405 and the methods that would work. So
for each route template this adds one function taking every other method, built from the routes
the other blueprints declare: the route table stays the one the functions declare.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.routes import http_functions

# OPTIONS is left to CORS preflight handling, which answers before functions run.
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")


def _method_name(method: func.HttpMethod | str) -> str:
    """A method's name, whether the blueprint was given it as ``HttpMethod`` or as a string."""
    return str(getattr(method, "value", method)).upper()


def routes_and_methods(*blueprints: func.Blueprint) -> dict[str, set[str]]:
    """Each route template of ``blueprints`` with the methods its functions accept."""
    routes: dict[str, set[str]] = defaultdict(set)
    for _, trigger in http_functions(*blueprints):
        routes[str(trigger.route)] |= {_method_name(m) for m in (trigger.methods or METHODS)}
    return routes


def _answer(allowed: set[str]) -> Callable[[Request], Awaitable[Response]]:
    allow = ", ".join(sorted(allowed))

    async def method_not_allowed(req: Request) -> Response:
        return Response(
            content=f"{req.method} is not allowed here; allowed: {allow}\n",
            status_code=405,
            headers={"Allow": allow},
            media_type="text/plain",
        )

    return method_not_allowed


def method_fallbacks(*blueprints: func.Blueprint) -> func.Blueprint:
    """A blueprint answering 405 for the methods ``blueprints`` do not accept on their routes."""
    fallbacks = func.Blueprint()
    for n, (route, allowed) in enumerate(sorted(routes_and_methods(*blueprints).items())):
        others = [m for m in METHODS if m not in allowed]
        if others:
            handler = _answer(allowed)
            handler.__name__ = f"method_not_allowed_{n}"
            fallbacks.function_name(name=handler.__name__)(
                fallbacks.route(route=route, methods=others, auth_level=func.AuthLevel.ANONYMOUS)(
                    handler
                )
            )
    return fallbacks
