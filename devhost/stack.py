"""The whole local stack as one object: Azurite (blob), the Cosmos DB emulator, the preparation
step and the local Functions host. `python -m devhost run` drives it, and so do the test fixtures,
which is why it can pick free ports, stay quiet (output goes to log files) and restart the
emulators on their own.
"""

import contextlib
import os
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType

from devhost.children import Child, StackError, port_in_use, run_to_completion
from devhost.settings import AZURITE_ACCOUNT, LOOPBACK, PORT_VARIABLES, Ports, base_url, service_env
from shared.clients import Clients, make_clients
from shared.config import load_settings

SERVICES = ("azurite", "cosmos", "prepare", "host")
# The field of Ports each listening service uses.
_PORT_FIELDS = {"azurite": "azurite_blob", "cosmos": "cosmos", "host": "host"}
READY_TIMEOUT = 30.0
PREPARE_TIMEOUT = 600.0
STOP_TIMEOUT = 10.0
# Azurite prints this once its metadata is saved; it may then linger on open connections.
AZURITE_CLOSED_LINE = "Azurite Blob service successfully closed"


class LocalStack:
    """Emulators, preparation and host on 127.0.0.1, with data and logs under `data_dir`.

    `root` is the repository root (node_modules, the `cli` and `devhost` packages); `app_root`
    holds `function_app.py` and `host.json` and defaults to `root`. Without `ports`, free ones are
    picked. With `echo_host` the host's access log goes to the terminal instead of a log file.

    Children are tied to the thread that starts them and end with it (see children.py), so start
    the stack from a thread that outlives it, such as the main thread.
    """

    def __init__(
        self,
        root: Path,
        data_dir: Path,
        ports: Ports | None = None,
        *,
        app_root: Path | None = None,
        echo_host: bool = False,
    ) -> None:
        self.root = root.resolve()
        self.data_dir = data_dir.resolve()
        self.app_root = (app_root or root).resolve()
        self.ports = ports or Ports.free()
        self.env = service_env(self.ports)
        self.base_url = base_url(self.ports)
        self.blob_endpoint = f"http://{LOOPBACK}:{self.ports.azurite_blob}/{AZURITE_ACCOUNT}"
        self.cosmos_endpoint = f"https://{LOOPBACK}:{self.ports.cosmos}/"
        self.log_dir = self.data_dir / "logs"
        self._echo_host = echo_host
        self._running: dict[str, Child] = {}

    # -- whole stack ------------------------------------------------------------------------

    def start(self, services: Sequence[str] = SERVICES) -> "LocalStack":
        """Start `services` (a subset of SERVICES, started in that order) and wait for each.

        Anything started is stopped again if a later step fails.
        """
        unknown = set(services) - set(SERVICES)
        if unknown:
            raise ValueError(f"unknown services {sorted(unknown)}; choose from {SERVICES}")
        if self._running:
            raise StackError(f"already started: {', '.join(self._running)}")
        self._check_ports_free(services)
        try:
            # Both emulators boot at the same time; only then is either waited for.
            for name in ("azurite", "cosmos"):
                if name in services:
                    child = self._child(name)
                    child.start()
                    self._running[name] = child
            for child in self._running.values():
                child.wait_ready(READY_TIMEOUT)
            if "prepare" in services:
                self.prepare()
            if "host" in services:
                self._start("host")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every child: all are signalled first so they shut down in parallel.

        A child leaves the running set only once it has ended, so a stop that is interrupted can
        simply be called again.
        """
        for child in self._running.values():
            child.terminate()
        while self._running:
            name, child = next(iter(self._running.items()))
            child.stop(STOP_TIMEOUT)
            del self._running[name]

    def prepare(self) -> str:
        """Run `python -m cli prepare-local` against the emulators; returns its output."""
        return run_to_completion(
            "prepare-local",
            [sys.executable, "-m", "cli", "prepare-local"],
            self.log_dir / "prepare.log",
            cwd=self.root,
            env=self._python_env(),
            timeout=PREPARE_TIMEOUT,
        )

    def dead_child(self) -> tuple[str, int, str] | None:
        """(name, exit code, log tail) of a child that ended without being stopped, if any."""
        for name, child in self._running.items():
            code = child.exit_code()
            if code is not None:
                return name, code, child.log_tail()
        return None

    def pids(self) -> dict[str, int]:
        return {name: child.pid for name, child in self._running.items() if child.pid is not None}

    def __enter__(self) -> "LocalStack":
        """Starts every service unless `start()` was already called."""
        return self if self._running else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- single emulators, for fault tests -------------------------------------------------------

    def stop_azurite(self, kill: bool = False) -> None:
        """Stop blob storage; `kill` simulates a crash (SIGKILL).

        Azurite saves its blob metadata every 5 s and on a clean stop, so after a kill the blobs
        written in the last seconds may be gone when it comes back.
        """
        self._take_running("azurite").stop(STOP_TIMEOUT, kill=kill)

    def start_azurite(self) -> None:
        """Start blob storage again on the same port and data directory."""
        self._start("azurite")

    def kill_host(self) -> None:
        """End the Functions host abruptly (SIGKILL), as a crashed or recycled worker ends."""
        self._take_running("host").stop(STOP_TIMEOUT, kill=True)

    def start_host(self) -> None:
        self._start("host")

    def restart_cosmos(self) -> None:
        """Restart the Cosmos emulator on its port; it keeps nothing, so it comes back empty."""
        self._take_running("cosmos").stop(STOP_TIMEOUT)
        self._start("cosmos")

    # -- internals -------------------------------------------------------------------------------

    def _take_running(self, name: str) -> Child:
        if name not in self._running:
            raise StackError(f"{name} is not running")
        return self._running.pop(name)

    def _start(self, name: str) -> None:
        if port_in_use(self._port(name)):
            raise StackError(f"cannot start {name}: {self._port_description(name)} is in use")
        child = self._child(name)
        child.start()
        try:
            child.wait_ready(READY_TIMEOUT)
        except BaseException:
            child.stop(STOP_TIMEOUT)
            raise
        self._running[name] = child

    def _check_ports_free(self, services: Sequence[str]) -> None:
        busy = [
            self._port_description(name)
            for name in services
            if name in _PORT_FIELDS and port_in_use(self._port(name))
        ]
        if busy:
            raise StackError(
                f"already in use by another process: {', '.join(busy)}. "
                "Stop whatever listens there or choose other ports."
            )

    def _port(self, name: str) -> int:
        port: int = getattr(self.ports, _PORT_FIELDS[name])
        return port

    def _port_description(self, name: str) -> str:
        return f"port {self._port(name)} ({name}, {PORT_VARIABLES[_PORT_FIELDS[name]]})"

    def _child(self, name: str) -> Child:
        log_path = self.log_dir / f"{name}.log"
        if name == "azurite":
            argv = [
                self._node(),
                *("--require", str(self.root / "devhost" / "azurite_lookups.js")),
                *("--require", str(self.root / "devhost" / "azurite_saves.js")),
                str(self._node_bin("azurite-blob")),
                *("--blobHost", LOOPBACK, "--blobPort", str(self.ports.azurite_blob)),
                *("--skipApiVersionCheck", "--loose", "--disableTelemetry"),
                *("--location", str(self.data_dir / "azurite")),
            ]
            return Child(
                name,
                argv,
                self.ports.azurite_blob,
                log_path,
                cwd=self.root,
                closed_line=AZURITE_CLOSED_LINE,
            )
        if name == "cosmos":
            argv = [
                self._node(),
                str(self.root / "devhost" / "cosmos_emulator.js"),
                str(self.ports.cosmos),
            ]
            return Child(name, argv, self.ports.cosmos, log_path, cwd=self.root)
        argv = [
            sys.executable,
            *("-m", "devhost", "serve", "--port", str(self.ports.host)),
            *("--app-root", str(self.app_root)),
        ]
        return Child(
            name,
            argv,
            self.ports.host,
            log_path,
            cwd=self.root,
            env=self._python_env(),
            echo=self._echo_host,
        )

    def _python_env(self) -> dict[str, str]:
        return {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}

    def _node_modules_missing(self) -> StackError:
        return StackError(
            f"{self.root / 'node_modules'} is missing or incomplete: run `npm ci` in the "
            "repository root (`make run` does it)"
        )

    def _node_bin(self, name: str) -> Path:
        path = self.root / "node_modules" / ".bin" / name
        if not path.exists():
            raise self._node_modules_missing()
        return path

    def _node(self) -> str:
        if not (self.root / "node_modules" / "@vercel" / "cosmosdb-server").is_dir():
            raise self._node_modules_missing()
        node = shutil.which("node")
        if node is None:
            raise StackError("`node` is not on PATH; install Node.js 20 or later")
        return node


@contextlib.asynccontextmanager
async def clients_of(stack: LocalStack) -> AsyncIterator[Clients]:
    """SDK clients for a stack's emulators, made from the same settings the service reads: for
    tests and benchmarks that look at what the service wrote."""
    saved = dict(os.environ)
    os.environ.update(stack.env)
    try:
        clients = make_clients(load_settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        yield clients
    finally:
        await clients.close()
