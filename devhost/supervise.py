"""`python -m devhost run`: the local stack in the foreground until Ctrl-C or SIGTERM, refusing
to start twice and stopping everything if any part of it dies.
"""

import fcntl
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import IO

from devhost.children import StackError, describe_exit
from devhost.settings import (
    LOCAL_AUTH_VARIABLE,
    Ports,
    base_url,
    local_auth_env,
    local_auth_requested,
)
from devhost.stack import LocalStack
from shared.config import CORS_ORIGINS, split_list

WATCH_SECONDS = 0.2


class _StopRequested(Exception):
    """Raised out of a signal handler so every wait unwinds through the same cleanup."""


def _request_stop(signum: int, _frame: FrameType | None) -> None:
    raise _StopRequested(signal.Signals(signum).name)


def _lock(path: Path, url: str) -> IO[str]:
    """Hold an exclusive lock on `path` for the life of this process, noting our pid and URL.

    The kernel drops the lock when the process ends however it ends, so a stale file never
    blocks the next run.
    """
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid, holder_url = [*handle.read().split(), "?", "?"][:2]
        handle.close()
        raise StackError(
            f"The local stack is already running (pid {pid}) at {holder_url}. "
            f"Use it, or stop it first (Ctrl-C in its terminal, or `kill {pid}`)."
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()} {url}\n")
    handle.flush()
    return handle


def access_lines(env: Mapping[str, str]) -> list[str]:
    """What the banner says about who may call and from which browser origins."""
    if env.get("DICOMWEB_AUTH_MODE") == "off":
        lines = [
            "  auth               OFF: anyone who reaches the port may read, store and delete",
            f"                     ({LOCAL_AUTH_VARIABLE}=1 make run requires local tokens)",
        ]
    else:
        lines = [
            f"  auth               tokens of the local issuer {env.get('DICOMWEB_AUTH_ISSUER')}",
            "                     (.venv/bin/python -m cli token --local --role owner|reader)",
        ]
    origins = split_list(env.get(CORS_ORIGINS))
    lines.append(
        f"  CORS origins       {', '.join(origins) if origins else f'none ({CORS_ORIGINS})'}"
    )
    return lines


def _banner(stack: LocalStack, root: Path) -> str:
    data_dir = stack.data_dir.relative_to(root) if stack.data_dir.is_relative_to(root) else None
    return "\n".join(
        [
            "",
            "DICOMweb local stack is running",
            f"  DICOMweb service   {stack.base_url}",
            f"  Azurite blob       {stack.blob_endpoint}",
            f"  Cosmos emulator    {stack.cosmos_endpoint}",
            f"  data and logs      {data_dir or stack.data_dir}/ (prepare-local: logs/prepare.log)",
            *access_lines({**os.environ, **stack.env}),
            "Ctrl-C stops everything.",
            "",
        ]
    )


def run(root: Path) -> int:
    """Run the stack on the ports from the environment; the exit code for the shell."""
    data_dir = root / ".local"
    data_dir.mkdir(exist_ok=True)
    try:
        ports = Ports.from_env()
        lock = _lock(data_dir / "run.lock", base_url(ports))
    except (StackError, ValueError) as error:
        print(error, file=sys.stderr, flush=True)
        return 1

    stack = LocalStack(root, data_dir, ports, echo_host=True)
    if local_auth_requested():
        stack.env.update(local_auth_env(ports, data_dir))
    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    try:
        print("Starting Azurite, the Cosmos DB emulator and the Functions host...", flush=True)
        stack.start()
        print(_banner(stack, root), flush=True)
        while (dead := stack.dead_child()) is None:
            time.sleep(WATCH_SECONDS)
        name, code, log_tail = dead
        print(
            f"{name} died ({describe_exit(code)}); stopping the stack.{log_tail}",
            file=sys.stderr,
            flush=True,
        )
        return 1
    except _StopRequested as stop:
        print(f"\n{stop} received; stopping the stack...", flush=True)
        return 0
    except StackError as error:
        print(error, file=sys.stderr, flush=True)
        return 1
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        lock.close()
