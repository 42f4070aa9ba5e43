"""Fetching the issuer's documents over real HTTP: whole bodies, bounded in size."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from shared.auth.keys import MAX_DOCUMENT_BYTES, fetch_json

BIG = {"keys": [{"kid": str(n), "pad": "x" * 1000} for n in range(500)]}


async def big(_: web.Request) -> web.Response:
    return web.json_response(BIG)


async def missing(_: web.Request) -> web.Response:
    return web.Response(status=404)


async def chunked(request: web.Request) -> web.StreamResponse:
    size = int(request.query["size"])
    body = json.dumps({"pad": "y" * size}).encode()
    response = web.StreamResponse()
    await response.prepare(request)
    for start in range(0, len(body), 4096):
        await response.write(body[start : start + 4096])
    await response.write_eof()
    return response


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/missing", missing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_the_whole_document_is_read(server: str) -> None:
    assert await fetch_json(f"{server}/big") == BIG
    document = await fetch_json(f"{server}/chunked?size=300000")
    assert isinstance(document, dict) and len(document["pad"]) == 300000


async def test_documents_past_the_limit_are_refused(server: str) -> None:
    with pytest.raises(ValueError, match="too large"):
        await fetch_json(f"{server}/chunked?size={MAX_DOCUMENT_BYTES}")


async def test_http_errors_raise(server: str) -> None:
    with pytest.raises(aiohttp.ClientResponseError):
        await fetch_json(f"{server}/missing")
