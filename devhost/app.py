"""The local Functions host: dispatches HTTP requests to the HTTP-triggered functions of a
`FunctionApp`, the way the Azure Functions host and its Python worker do with HTTP streams.

The routes are read from the app itself (`get_functions()`), so the function app stays the only
routing table and a route that works locally works in Azure. Request and response objects pass
through untouched, which keeps uploads and downloads streaming end to end.

Like the Azure platform with `siteConfig.cors`, the host answers CORS preflight requests itself
and adds `Access-Control-Allow-Origin` for the allowed origins, so functions never see OPTIONS.
With the local issuer on, the host also publishes that issuer's metadata and keys.
"""

import asyncio
import contextlib
import importlib
import inspect
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import azure.functions as func
from azure.functions.decorators.function_app import Function
from azure.functions.decorators.http import HttpTrigger
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from devhost.access_log import ROUTE_KEY, AccessLog
from devhost.local_issuer import LocalIssuer
from devhost.routes import RouteTemplate
from devhost.timers import timer_functions
from devhost.workers import concurrency_per_worker
from shared.config import CORS_ORIGINS, LOCAL_ISSUER_KEY, split_list
from shared.failure_log import log_failure

logger = logging.getLogger("devhost")

# The Functions host's routePrefix when host.json does not set one.
DEFAULT_ROUTE_PREFIX = "api"

Handler = Callable[[Request], Awaitable[Response]] | Callable[[Request], Response]

# What a preflight may ask for: the API's methods and the headers DICOMweb clients send.
CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = ("Authorization", "Accept", "Content-Type", "Range")
CORS_MAX_AGE_SECONDS = 600


@dataclass(frozen=True)
class HttpFunction:
    """One HTTP-triggered function: its route, the methods it accepts (None: all) and its code."""

    name: str
    route: RouteTemplate
    methods: frozenset[str] | None
    handler: Handler

    def accepts(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


def http_functions(app_functions: Sequence[Function], route_prefix: str) -> list[HttpFunction]:
    """The app's HTTP functions, most specific route first, as the host tries them."""
    functions = []
    for function in app_functions:
        trigger = function.get_trigger()
        if not isinstance(trigger, HttpTrigger):
            continue
        handler = function.get_user_function()
        methods = (
            None
            if trigger.methods is None
            else frozenset(str(getattr(m, "value", m)).upper() for m in trigger.methods)
        )
        functions.append(
            HttpFunction(
                name=function.get_function_name() or handler.__name__,
                route=RouteTemplate(f"{route_prefix.strip('/')}/{trigger.route}"),
                methods=methods,
                handler=handler,
            )
        )
    return sorted(functions, key=lambda function: function.route.precedence)


class _Dispatcher:
    """ASGI app that finds the function for a request and hands the request over to it."""

    def __init__(self, functions: list[HttpFunction], concurrency: int | None = None) -> None:
        self._functions = functions
        # Invocations beyond the concurrency wait their turn, as the Functions host queues them.
        self._slots = None if concurrency is None else asyncio.Semaphore(concurrency)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matches = [
            (function, values)
            for function in self._functions
            if (values := function.route.match(scope["path"])) is not None
        ]
        chosen = next(
            (
                (function, values)
                for function, values in matches
                if function.accepts(scope["method"])
            ),
            None,
        )
        if chosen is None:
            response = self._no_function()
        else:
            function, values = chosen
            scope["path_params"] = values
            scope[ROUTE_KEY] = function.route.redacted(values)
            async with self._slots or contextlib.nullcontext():
                response = await self._call(function, Request(scope, receive))
                await response(scope, receive, send)
            return
        await response(scope, receive, send)

    @staticmethod
    def _no_function() -> Response:
        """404, also when only the method is wrong: the Functions host routes on path and method
        together and answers 404 then, so an app that wants 405 must declare it itself."""
        return PlainTextResponse("Not Found", status_code=404)

    @staticmethod
    async def _call(function: HttpFunction, request: Request) -> Response:
        """Run the function; a failure becomes a bare 500 so no traceback reaches the client."""
        try:
            if inspect.iscoroutinefunction(function.handler):
                response = await function.handler(request)
            else:
                response = await run_in_threadpool(function.handler, request)
            if not isinstance(response, Response):
                raise TypeError(f"returned {type(response).__name__}, not a Response")
        except Exception as exc:
            log_failure(logger, f"Function {function.name!r}", exc)
            return PlainTextResponse("Internal Server Error", status_code=500)
        return response


def build_app(
    function_app: func.FunctionApp,
    route_prefix: str,
    *,
    cors_origins: Sequence[str] = (),
    extra_routes: Sequence[BaseRoute] = (),
    timer_settings: Mapping[str, str] | None = None,
    concurrency: int | None = None,
) -> Starlette:
    """ASGI app serving the HTTP functions of `function_app` under `route_prefix`.

    `extra_routes` are tried before the functions; `cors_origins` may call from a browser. With
    `timer_settings` (the app settings their schedules may name), the timer functions run on
    their schedules while the app is up. At most `concurrency` invocations run at once, if set.
    """
    # Once only: the app checks its function names are unique on every call, and fails the second.
    app_functions = function_app.get_functions()
    dispatcher = _Dispatcher(http_functions(app_functions, route_prefix), concurrency)
    timers = [] if timer_settings is None else timer_functions(app_functions, timer_settings)
    cors = Middleware(
        CORSMiddleware,
        allow_origins=list(cors_origins),
        allow_methods=list(CORS_METHODS),
        allow_headers=list(CORS_REQUEST_HEADERS),
        max_age=CORS_MAX_AGE_SECONDS,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(timer.run_forever()) for timer in timers]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return Starlette(
        routes=[*extra_routes, Route("/{path:path}", dispatcher)],
        middleware=[Middleware(AccessLog), *([cors] if cors_origins else [])],
        lifespan=lifespan,
    )


def route_prefix(host_json: Path) -> str:
    """`extensions.http.routePrefix` of host.json, defaulting like the Functions host."""
    settings = json.loads(host_json.read_text(encoding="utf-8"))
    prefix = settings.get("extensions", {}).get("http", {}).get("routePrefix", DEFAULT_ROUTE_PREFIX)
    return str(prefix)


def local_issuer_routes(environ: Mapping[str, str]) -> Sequence[BaseRoute]:
    """The local issuer's documents, when the settings turn it on (its URL is the issuer's)."""
    key_path = environ.get(LOCAL_ISSUER_KEY, "").strip()
    if not key_path:
        return []
    return LocalIssuer(environ["DICOMWEB_AUTH_ISSUER"], Path(key_path)).routes()


def load(root: Path, environ: Mapping[str, str] = os.environ, *, timers: bool = True) -> Starlette:
    """The ASGI app for `function_app.app` and `host.json` in the directory `root`, taking this
    worker's share of the per-instance concurrency (workers.py); without `timers`, no timer
    function runs in it.

    Like the Python worker, the directory is put first on sys.path so the app's own packages
    import by their top-level names.
    """
    root = root.resolve()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = importlib.import_module("function_app")
    return build_app(
        module.app,
        route_prefix(root / "host.json"),
        cors_origins=split_list(environ.get(CORS_ORIGINS)),
        extra_routes=local_issuer_routes(environ),
        timer_settings=environ if timers else None,
        concurrency=concurrency_per_worker(environ),
    )
