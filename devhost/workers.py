"""Worker processes and per-instance concurrency of the local host, set as the Functions host
sets them on Flex Consumption.

The Azure Functions host runs ``FUNCTIONS_WORKER_PROCESS_COUNT`` Python worker processes per
instance and hands an instance at most ``perInstanceConcurrency`` HTTP invocations at once
(``functionAppConfig.scaleAndConcurrency.triggers.http`` in ``infra/modules/functionapp.bicep``),
queueing the rest. The local host does the same: one listening socket shared by that many
forked worker processes, each taking its share of the concurrency. Both default to the values
the Bicep template deploys (``tests/infra`` holds them equal).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping

from devhost.children import _die_with_parent
from shared.failure_log import log_failure

log = logging.getLogger("dicomweb")

WORKER_PROCESS_COUNT = "FUNCTIONS_WORKER_PROCESS_COUNT"
PER_INSTANCE_CONCURRENCY = "DICOMWEB_HTTP_PER_INSTANCE_CONCURRENCY"
"""The local stand-in for ``perInstanceConcurrency``, which in Azure is plan configuration, not
an app setting."""

DEFAULT_WORKER_PROCESSES = 1
DEFAULT_PER_INSTANCE_CONCURRENCY = 16


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


def worker_processes(environ: Mapping[str, str] = os.environ) -> int:
    return _positive(environ, WORKER_PROCESS_COUNT, DEFAULT_WORKER_PROCESSES)


def concurrency_per_worker(environ: Mapping[str, str] = os.environ) -> int:
    """Each worker's share of the instance's concurrency, rounded up."""
    total = _positive(environ, PER_INSTANCE_CONCURRENCY, DEFAULT_PER_INSTANCE_CONCURRENCY)
    return math.ceil(total / worker_processes(environ))


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``, not yet listening.

    IPPROTO_TCP is named, not left 0: asyncio sets TCP_NODELAY on accepted connections only when
    the socket says it is TCP, and without it every answer waits out a delayed ACK (~40 ms).
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    return listener


def run_workers(
    host: str, port: int, count: int, serve: Callable[[socket.socket, int], None]
) -> int:
    """Bind ``host:port`` once and run ``serve(socket, worker_number)`` in ``count`` forked
    processes until a signal stops them or one of them ends; returns an exit status.

    Workers die with this process (a killed host leaves no worker behind holding the port).
    """
    listener = bound_socket(host, port)
    workers: list[int] = []
    for number in range(count):
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            code = 1
            try:
                serve(listener, number)
                code = 0
            except BaseException as exc:
                # Its own status, so the host sees a crashed worker; where, never the message.
                log_failure(log, f"worker {number}", exc)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        workers.append(pid)
    # Listening only now that every worker exists: whoever sees the port open sees them all.
    listener.listen(2048)

    def stop(signum: int, _frame: object) -> None:
        for pid in workers:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                continue

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    remaining = set(workers)
    while remaining:
        pid, code = os.wait()
        if pid not in remaining:
            continue
        remaining.discard(pid)
        if os.waitstatus_to_exitcode(code) != 0:
            status = 1
        # One worker gone ends the host, as a crashed host would: the rest are stopped.
        stop(signal.SIGTERM, None)
    sys.stdout.flush()
    return status
