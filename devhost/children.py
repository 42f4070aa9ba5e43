"""Child processes of the local stack: a server started on a known port, waited for until it
accepts connections, and stopped with terminate, wait, then kill.
"""

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from devhost.settings import LOOPBACK

POLL_SECONDS = 0.05
LOG_TAIL_LINES = 40


class StackError(RuntimeError):
    """The local stack cannot start or keep running; the message says why for a person to read."""


def port_in_use(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:port.

    SO_REUSEADDR makes the probe ignore sockets left in TIME_WAIT by an earlier run, which the
    servers themselves may rebind, so only a live listener counts.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
        return True
    return False


# Resolved here rather than in the forked child, where loading symbols could deadlock.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Have Linux SIGTERM the child when the thread that started it ends, so a crashed or killed
    test run or `make run` never leaves emulators behind holding their ports."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One server process, its output in `log_path` unless `echo` sends it to the terminal."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        log_path: Path,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        echo: bool = False,
        closed_line: str | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self._argv = list(argv)
        self._cwd = cwd
        self._env = dict(env) if env is not None else None
        self._echo = echo
        self._closed_line = closed_line.encode() if closed_line else None
        self._log_start = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._terminated = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def exit_code(self) -> int | None:
        """None while running (or never started), else how the process ended."""
        return self._process.poll() if self._process else None

    def start(self) -> None:
        """Spawn the process in its own session: Ctrl-C at the terminal then reaches only the
        supervisor, which stops the children in order instead of letting them race it."""
        with contextlib.ExitStack() as cleanup:
            output = None
            if not self._echo:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                output = cleanup.enter_context(self.log_path.open("ab"))
                output.write(f"--- {self.name}: {' '.join(self._argv)}\n".encode())
                output.flush()
                self._log_start = output.tell()
            self._process = subprocess.Popen(
                self._argv,
                cwd=self._cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._terminated = False

    def wait_ready(self, timeout: float) -> None:
        """Return once the port accepts connections; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        while not accepts_connections(self.port):
            code = self.exit_code()
            if code is not None:
                raise StackError(
                    f"{self.name} ended with {describe_exit(code)} while starting.{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"{self.name} did not accept connections on {LOOPBACK}:{self.port} "
                    f"within {timeout:g} s.{self.log_tail()}"
                )
            time.sleep(POLL_SECONDS)

    def terminate(self) -> None:
        """Send SIGTERM once: Azurite and uvicorn take a second one as "quit now", which would
        cut short the clean shutdown the first one started."""
        if self._process and self._process.poll() is None and not self._terminated:
            self._process.terminate()
            self._terminated = True

    def stop(self, timeout: float = 10.0, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL with `kill`), wait up to `timeout`, then SIGKILL.

        A server that logs `closed_line` once its data is safe is killed as soon as it does:
        Azurite, for one, then still waits for in-flight requests, which may never finish when
        their client is the very test that is stopping it.
        """
        process = self._process
        if process is None:
            return
        if kill:
            process.kill()
        else:
            self.terminate()
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if time.monotonic() > deadline or self._logged_closed():
                process.kill()
                break
            time.sleep(POLL_SECONDS)
        process.wait()
        self._process = None

    def _logged_closed(self) -> bool:
        if self._closed_line is None or self._echo:
            return False
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return self._closed_line in log.read()

    def log_tail(self) -> str:
        """Last lines of the log, for error messages (empty when output went to the terminal)."""
        if self._echo or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        tail = "\n".join(f"  {line}" for line in lines[-LOG_TAIL_LINES:])
        return f"\n{self.name} log ({self.log_path}):\n{tail}"


def run_to_completion(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
) -> str:
    """Run a one-off command to completion and return its output; a failure raises with it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
            preexec_fn=_die_with_parent,
        )
    except subprocess.TimeoutExpired as error:
        raise StackError(f"{name} did not finish within {timeout:g} s") from error
    output = result.stdout.decode("utf-8", errors="replace")
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"--- {name}: {' '.join(argv)} (exit {result.returncode})\n{output}")
    if result.returncode != 0:
        raise StackError(f"{name} failed with exit code {result.returncode}:\n{output}")
    return output


def describe_exit(code: int) -> str:
    """Readable exit status: Popen reports death by a signal as a negative code."""
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
