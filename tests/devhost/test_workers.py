"""Worker processes and per-instance concurrency of the local host, as Flex Consumption sets
them: several workers share the port and die with the host; invocations past the concurrency
wait their turn."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import azure.functions as func
import httpx
import psutil
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from devhost.app import build_app
from devhost.stack import LocalStack
from devhost.workers import (
    PER_INSTANCE_CONCURRENCY,
    WORKER_PROCESS_COUNT,
    bound_socket,
    concurrency_per_worker,
    worker_processes,
)
from tests.data.builders import multipart, to_bytes, with_fresh_uids
from tests.functions.test_store import post

ROOT = Path(__file__).resolve().parents[2]


def test_settings_default_to_one_worker_and_split_the_concurrency() -> None:
    assert worker_processes({}) == 1
    assert concurrency_per_worker({}) == 16
    split = {WORKER_PROCESS_COUNT: "3", PER_INSTANCE_CONCURRENCY: "16"}
    assert worker_processes(split) == 3 and concurrency_per_worker(split) == 6
    for wrong in ("0", "two", "-1"):
        with pytest.raises(ValueError, match=WORKER_PROCESS_COUNT):
            worker_processes({WORKER_PROCESS_COUNT: wrong})


async def test_connections_on_the_shared_socket_send_without_delay() -> None:
    """Small answers go out at once (TCP_NODELAY), as on a socket the server binds itself."""
    listener = bound_socket("127.0.0.1", 0)
    listener.listen()
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(connected, sock=listener)
    async with server:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        assert await asyncio.wait_for(accepted, 10) != 0
        writer.close()


async def test_invocations_past_the_concurrency_wait() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    running, most = 0, 0

    @app.route(route="slow", methods=["GET"])
    async def slow(req: Request) -> Response:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1
        return PlainTextResponse("done")

    transport = httpx.ASGITransport(app=build_app(app, "", concurrency=2))
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
        answers = await asyncio.gather(*(client.get("/slow") for _ in range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    assert most == 2


@pytest.mark.integration
async def test_two_workers_serve_one_port_and_end_with_the_host() -> None:
    with tempfile.TemporaryDirectory(prefix="workers-") as tmp:
        stack = LocalStack(ROOT, Path(tmp))
        stack.env[WORKER_PROCESS_COUNT] = "2"
        with stack:
            host = psutil.Process(stack.pids()["host"])
            workers = host.children()
            assert len(workers) == 2
            _, ds = with_fresh_uids("CT_small.dcm")
            async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
                assert (await post(http, multipart([to_bytes(ds)]))).status_code == 200
                url = (
                    f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                    f"/instances/{ds.SOPInstanceUID}"
                )
                answers = await asyncio.gather(
                    *(http.get(url, headers={"accept": "*/*"}) for _ in range(8))
                )
                assert {a.status_code for a in answers} == {200}
            stack.kill_host()
            _, alive = psutil.wait_procs(workers, timeout=10)
            assert alive == []


def test_a_worker_that_fails_ends_the_host_with_a_failure_and_no_message() -> None:
    script = (
        "from devhost.workers import run_workers\n"
        "def serve(listener, number):\n"
        "    raise RuntimeError('1.2.840.99 Doe^Jane')\n"
        "raise SystemExit(run_workers('127.0.0.1', 0, 2, serve))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 1
    assert "RuntimeError" in child.stderr and "worker 0 failed" in child.stderr
    assert "Doe^Jane" not in child.stderr + child.stdout
