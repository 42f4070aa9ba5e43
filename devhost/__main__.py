"""Command line of the local development host: `serve` runs the Functions host alone, `run` the
whole local stack (`make run`), `viewer` the OHIF viewer pointed at it."""

import argparse
import contextlib
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn

from devhost.app import load
from devhost.http_limits import DEFAULT_HEAD_TIMEOUT_SECONDS, HeadLimits, protocol_with
from devhost.settings import LOOPBACK, Ports, base_url
from devhost.supervise import run
from devhost.viewer import DEFAULT_PORT, ViewerServer
from devhost.workers import run_workers, worker_processes
from shared.config import HEAD_TIMEOUT

ROOT = Path(__file__).resolve().parent.parent


def serve(port: int, app_root: Path) -> int:
    """Serve the function app in `app_root` until SIGINT or SIGTERM: in this process, or in
    `FUNCTIONS_WORKER_PROCESS_COUNT` worker processes (see workers.py)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    head_timeout = os.environ.get(HEAD_TIMEOUT, "").strip()
    limits = HeadLimits(
        timeout_seconds=float(head_timeout) if head_timeout else DEFAULT_HEAD_TIMEOUT_SECONDS
    )
    options: dict[str, Any] = {
        "loop": "asyncio",
        # h11 with limits on the request head, answered 431 and 408 (see http_limits.py).
        "http": protocol_with(limits),
        "h11_max_incomplete_event_size": limits.max_bytes,
        # Uvicorn's own access log writes URLs as sent: devhost.access_log writes them redacted.
        "access_log": False,
        # Bounded, so a client stuck mid-stream cannot hold up a stop forever.
        "timeout_graceful_shutdown": 5,
    }
    count = worker_processes()
    if count == 1:
        uvicorn.run(load(app_root), host=LOOPBACK, port=port, **options)
        return 0

    def worker(listener: socket.socket, number: int) -> None:
        # Timers run in one worker only, as the Functions host runs a schedule once.
        app = load(app_root, timers=number == 0)
        uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[listener])

    return run_workers(LOOPBACK, port, count, worker)


def viewer(port: int, dicomweb_root: str) -> int:
    """Serve the OHIF viewer in this process until Ctrl-C."""
    server = ViewerServer(ROOT, dicomweb_root, port)
    print(f"OHIF viewer at {server.url}, reading {dicomweb_root}", flush=True)
    print(f"The service must allow its origin: DICOMWEB_CORS_ORIGINS={server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the local Functions host alone")
    serve_parser.add_argument("--port", type=int, default=Ports.from_env().host)
    serve_parser.add_argument(
        "--app-root",
        type=Path,
        default=ROOT,
        help="directory holding function_app.py and host.json (default: the repository root)",
    )
    commands.add_parser("run", help="run Azurite, the Cosmos DB emulator and the host")
    viewer_parser = commands.add_parser("viewer", help="serve the OHIF viewer for the service")
    viewer_parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    viewer_parser.add_argument(
        "--dicomweb",
        default=f"{base_url(Ports.from_env())}/v2",
        help="the service's DICOMweb root (default: the local stack's /v2)",
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.port, args.app_root)
    if args.command == "viewer":
        return viewer(args.port, args.dicomweb)
    return run(ROOT)


if __name__ == "__main__":
    sys.exit(main())
