"""The local Functions host: route templates and dispatch to a FunctionApp's HTTP functions."""

import asyncio
import hashlib
import json
import logging
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import azure.functions as func
import httpx
import pytest
import uvicorn
from azurefunctions.extensions.http.fastapi import (
    JSONResponse,
    PlainTextResponse,
    Request,
    Response,
    StreamingResponse,
)

from devhost.app import build_app, load, route_prefix
from devhost.routes import RouteTemplate

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("template", "path", "values"),
    [
        ("studies/{study}", "/studies/1.2.3", {"study": "1.2.3"}),
        ("studies/{study}", "/STUDIES/1.2.3", {"study": "1.2.3"}),
        ("studies/{study}", "/studies/1.2.3/", {"study": "1.2.3"}),
        ("studies/{study}", "/studies", None),
        ("studies/{study}", "/studies/1/series", None),
        ("studies/{study:regex(^[0-9.]{{1,64}}$)}", "/studies/1.2.840", {"study": "1.2.840"}),
        ("studies/{study:regex(^[0-9.]{{1,64}}$)}", "/studies/1.2.abc", None),
        ("studies/{study:regex(^[0-9.]{{1,3}}$)}", "/studies/1.2.3", None),
        # Like ASP.NET Core, an unanchored regex only has to occur somewhere in the value.
        ("x/{v:regex([0-9])}", "/x/ab1", {"v": "ab1"}),
        ("x/{v:regex(^a(b|c)?d$)}", "/x/ABD", {"v": "ABD"}),
        ("frames/{n:int}", "/frames/12", {"n": "12"}),
        ("frames/{n:int}", "/frames/-3", {"n": "-3"}),
        ("frames/{n:int}", "/frames/1.5", None),
        ("frames/{n:int}", "/frames/2147483648", None),
        ("tags/{name:alpha}", "/tags/PatientName", {"name": "PatientName"}),
        ("tags/{name:alpha}", "/tags/Patient1", None),
        ("a/{b?}", "/a", {}),
        ("a/{b?}", "/a/x", {"b": "x"}),
        ("a/{b?}/{c?}", "/a/x/y", {"b": "x", "c": "y"}),
        ("a/{b=dflt}", "/a", {"b": "dflt"}),
        ("{a?}/b", "/b", None),
        ("files/{*rest}", "/files", {}),
        ("files/{*rest}", "/files/a/b/c.dcm", {"rest": "a/b/c.dcm"}),
        ("files/{**rest}", "/Files/a/b", {"rest": "a/b"}),
        ("api/v{version}/x", "/api/V2/x", {"version": "2"}),
        ("api/v{version}/x", "/api/vv2/x", None),
        ("{file}.{ext?}", "/a.b.dcm", {"file": "a.b", "ext": "dcm"}),
        ("{file}.{ext?}", "/plain", {"file": "plain"}),
        ("{a}-{b}", "/x-y-z", {"a": "x-y", "b": "z"}),
        ("", "/", {}),
        ("{name:regex(a.b)}", "/a/b", None),
    ],
)
def test_template_translation(template: str, path: str, values: dict[str, str] | None) -> None:
    assert RouteTemplate(template).match(path) == values


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a/{id:guid}", "not supported"),
        ("a/{*rest}/b", "catch-all must be the last segment"),
        ("a/{b", "unclosed route parameter"),
        ("a/b}", "unmatched"),
        ("a//b", "empty segment"),
        ("{a}{b}", "literal between them"),
        ("{a}/{A}", "repeated"),
        ("{a:regex(x}", "unclosed '('"),
    ],
)
def test_invalid_templates_are_rejected(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        RouteTemplate(template)


def test_precedence_orders_literal_before_constrained_before_plain_before_catch_all() -> None:
    templates = ["s/{*rest}", "s/{x}", "s/{x:int}", "s/latest"]
    ranked = sorted(templates, key=lambda template: RouteTemplate(template).precedence)
    assert ranked == ["s/latest", "s/{x:int}", "s/{x}", "s/{*rest}"]


def _values(req: Request) -> Response:
    return JSONResponse({"route": req.url.path, "values": dict(req.path_params)})


def make_function_app() -> func.FunctionApp:
    """A tiny app in the shape of the project's: async functions on HTTP streams."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="studies/{study}", methods=[func.HttpMethod.GET])
    async def get_study(req: Request) -> Response:
        return _values(req)

    @app.route(route="studies/{study}", methods=["DELETE"])
    async def delete_study(req: Request) -> Response:
        return Response(status_code=204)

    @app.route(route="studies/{study}/series/{series:regex(^[0-9.]+$)}", methods=["GET"])
    async def get_series(req: Request) -> Response:
        return _values(req)

    # Registered before the literal route below, which must still win.
    @app.route(route="workitems/{item}", methods=["GET"])
    async def get_workitem(req: Request) -> Response:
        return _values(req)

    @app.route(route="workitems/pending", methods=["GET"])
    async def get_pending(req: Request) -> Response:
        return PlainTextResponse("pending")

    @app.route(route="anything/{*rest}")
    async def any_method(req: Request) -> Response:
        return PlainTextResponse(req.method)

    @app.route(route="sync", methods=["GET"])
    def sync_function(req: Request) -> Response:
        return PlainTextResponse("sync")

    @app.route(route="broken", methods=["GET"])
    async def broken(req: Request) -> Response:
        raise RuntimeError("secret detail")

    @app.route(route="not-a-response", methods=["GET"])
    async def not_a_response(req: Request) -> Response:
        return "text"

    @app.timer_trigger(schedule="0 0 * * * *", arg_name="timer")
    def hourly(timer: func.TimerRequest) -> None:
        """Not HTTP: the host must skip it."""

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(make_function_app(), ""))
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
        yield client


async def test_route_values_reach_the_function(client: httpx.AsyncClient) -> None:
    response = await client.get("/studies/1.2.3")
    assert response.status_code == 200
    assert response.json() == {"route": "/studies/1.2.3", "values": {"study": "1.2.3"}}


async def test_literals_match_case_insensitively(client: httpx.AsyncClient) -> None:
    response = await client.get("/Studies/1.2/SERIES/3.4")
    assert response.json()["values"] == {"study": "1.2", "series": "3.4"}


async def test_regex_constraint_decides_the_match(client: httpx.AsyncClient) -> None:
    assert (await client.get("/studies/1/series/2.5")).status_code == 200
    assert (await client.get("/studies/1/series/x")).status_code == 404


async def test_most_specific_route_wins(client: httpx.AsyncClient) -> None:
    assert (await client.get("/workitems/pending")).text == "pending"
    assert (await client.get("/workitems/7")).json()["values"] == {"item": "7"}


async def test_a_method_no_function_accepts_is_404_like_the_functions_host(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put("/studies/1.2.3")
    assert response.status_code == 404
    assert "allow" not in response.headers
    assert (await client.delete("/studies/1.2.3")).status_code == 204


async def test_no_route_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nowhere")).status_code == 404
    assert (await client.get("/")).status_code == 404


async def test_route_without_methods_accepts_any(client: httpx.AsyncClient) -> None:
    assert (await client.patch("/anything/a/b")).text == "PATCH"


async def test_synchronous_functions_are_called_too(client: httpx.AsyncClient) -> None:
    assert (await client.get("/sync")).text == "sync"


async def test_exception_is_a_bare_500_with_its_code_locations_only_in_the_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="devhost"):
        response = await client.get("/broken")
    assert response.status_code == 500
    assert "secret" not in response.text
    assert "RuntimeError" in caplog.text
    assert "tests/devhost/test_app.py:" in caplog.text and " in broken" in caplog.text
    assert "secret" not in caplog.text


async def test_a_return_value_that_is_not_a_response_is_a_500(client: httpx.AsyncClient) -> None:
    assert (await client.get("/not-a-response")).status_code == 500


async def test_route_prefix_is_honoured() -> None:
    transport = httpx.ASGITransport(app=build_app(make_function_app(), "api"))
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
        assert (await client.get("/api/studies/1")).json()["values"] == {"study": "1"}
        assert (await client.get("/studies/1")).status_code == 404


def test_route_prefix_defaults_like_the_functions_host(tmp_path: Path) -> None:
    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps({"version": "2.0"}))
    assert route_prefix(host_json) == "api"
    host_json.write_text(json.dumps({"extensions": {"http": {"routePrefix": ""}}}))
    assert route_prefix(host_json) == ""


async def test_load_imports_function_app_from_the_given_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"http": {"routePrefix": "v1"}}}))
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as func\n"
        "from azurefunctions.extensions.http.fastapi import PlainTextResponse, Request\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
        "@app.route(route='hello/{name}', methods=['GET'])\n"
        "async def hello(req: Request) -> PlainTextResponse:\n"
        "    return PlainTextResponse('hello ' + req.path_params['name'])\n"
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    earlier = sys.modules.pop("function_app", None)
    try:
        transport = httpx.ASGITransport(app=load(tmp_path))
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            assert (await client.get("/v1/hello/you")).text == "hello you"
    finally:
        sys.modules.pop("function_app", None)
        if earlier is not None:
            sys.modules["function_app"] = earlier


async def test_bodies_stream_both_ways_through_a_real_server() -> None:
    """50 MiB up and 50 MiB down, each side waiting on the other mid-body: a host that buffered
    either body would deadlock here instead of passing."""
    size, chunk = 50 * MIB, 256 * 1024
    first_request_chunk_read = asyncio.Event()
    first_response_chunk_seen = asyncio.Event()
    seen: dict[str, object] = {}

    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="stream", methods=["POST"])
    async def stream(req: Request) -> StreamingResponse:
        digest, total, chunks = hashlib.sha256(), 0, 0
        async for part in req.stream():
            if not first_request_chunk_read.is_set():
                first_request_chunk_read.set()
            digest.update(part)
            total += len(part)
            chunks += 1
        seen.update(digest=digest.hexdigest(), total=total, chunks=chunks)

        async def body() -> AsyncIterator[bytes]:
            yield bytes(chunk)
            await asyncio.wait_for(first_response_chunk_seen.wait(), timeout=10)
            for _ in range(size // chunk - 1):
                yield bytes(chunk)

        return StreamingResponse(body(), media_type="application/octet-stream")

    async def upload() -> AsyncIterator[bytes]:
        yield b"\x01" * chunk
        await asyncio.wait_for(first_request_chunk_read.wait(), timeout=10)
        for _ in range(size // chunk - 1):
            yield b"\x01" * chunk

    # Listening before uvicorn starts: connections queue until it accepts them.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(app, ""), lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
            client.stream("POST", "/stream", content=upload()) as response,
        ):
            assert response.status_code == 200
            received = 0
            async for part in response.aiter_raw():
                first_response_chunk_seen.set()
                received += len(part)
    finally:
        server.should_exit = True
        await serving
        listener.close()

    assert seen["total"] == size
    assert seen["digest"] == hashlib.sha256(b"\x01" * size).hexdigest()
    assert isinstance(seen["chunks"], int) and seen["chunks"] > 1
    assert received == size
