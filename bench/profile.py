"""Where the host's time goes during a phase: py-spy samples the running host process, and the
collapsed stacks it writes are summed up into the frames that were on CPU most often.

Only the summary is printed; the raw stacks stay in the directory given, which is not committed.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RATE = 100  # samples per second
TOP = 12
STOP_TIMEOUT = 30.0


def _py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is missing: install requirements-dev.txt")
    return found


@contextmanager
def recording(pid: int, output: Path) -> Iterator[None]:
    """Sample ``pid`` (idle frames left out) for as long as the block runs."""
    output.parent.mkdir(parents=True, exist_ok=True)
    argv = [_py_spy(), "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw"]
    argv += ["--output", str(output), "--nonblocking"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Leaf frames of a thread that waits rather than works (the event loop's poll, an idle worker
# thread of the default executor): py-spy sees them as running, so they are counted apart.
WAITING = ("EpollSelector.select (selectors.py)", "_worker (concurrent/futures/thread.py)")
PROJECT = ("shared", "functions")


def _frame_name(frame: str, root: Path) -> str:
    """``function (path/to/module.py)``: the path within the project or within its library."""
    name, _, where = frame.partition(" (")
    path = Path(where.rsplit(":", 1)[0])
    if path.is_relative_to(root):
        return f"{name} ({path.relative_to(root)})"
    parts = path.parts
    for anchor in ("site-packages", "lib"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1 :]
            break
    return f"{name} ({'/'.join(parts[-3:])})"


def summary(collapsed: Path, root: Path, top: int = TOP) -> str:
    """The frames seen most often on CPU: at the top of the stack (self), and the project's own
    functions anywhere in it (total), as shares of the samples that were not waiting."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    working = waiting = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame_name(f, root) for f in stack.split(";")[1:]]  # the first is the thread
        if not frames:
            continue
        samples = int(count)
        if frames[-1] in WAITING:
            waiting += samples
            continue
        working += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            if frame.split(" (", 1)[1].startswith(PROJECT):
                anywhere[frame] += samples
    if not working:
        return "no samples"
    lines = [f"{working} samples working, {waiting} waiting, at {RATE}/s", "self:"]
    lines += [f"  {100 * n / working:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("total, the project's functions:")
    lines += [f"  {100 * n / working:5.1f}%  {f}" for f, n in anywhere.most_common(top)]
    return "\n".join(lines)
