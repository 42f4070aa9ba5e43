"""A one-line progress display for long commands, redrawn in place on a terminal.

Piped output (a log, CI) gets no redraws: only the final line, or nothing at all when the command
prints its own summary, so that logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 24
MB = 1_000_000
# Least time between two redraws; the last update is always drawn.
REDRAW_SECONDS = 0.2


def render(stage: str, done: int, total: int | None, elapsed: float, nbytes: int | None) -> str:
    """The progress line: a bar once the total is known, the count, and the rates so far.

    ``nbytes`` adds the volume and its rate in MB (10^6 bytes) per second.
    """
    seconds = max(elapsed, 1e-6)
    bar = ""
    if total:
        filled = min(BAR_WIDTH, BAR_WIDTH * done // total)
        bar = "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "] "
    counted = f"{done}/{total if total is not None else '?'}"
    rates = f"{done / seconds:.0f}/s"
    if nbytes is not None:
        rates += f", {nbytes / MB:.1f} MB, {nbytes / MB / seconds:.1f} MB/s"
    return f"{stage}: {bar}{counted} ({rates})"


class ProgressLine:
    """Callable progress reporter: ``progress(stage, done, total)``.

    ``total`` may be None while it is still being counted. With ``piped_summary`` (the default)
    the final line is printed even when stderr is not a terminal.
    """

    def __init__(self, *, piped_summary: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.tty = self.stream.isatty()
        self.piped_summary = piped_summary
        self.last = 0.0
        self._final: tuple[int, int | None] | None = None

    def __call__(self, stage: str, done: int, total: int | None, nbytes: int | None = None) -> None:
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self.last < REDRAW_SECONDS:
            return
        if final:
            # A command may report its end more than once; the line is ended only once.
            if self._final == (done, total):
                return
            self._final = (done, total)
        self.last = now
        line = render(stage, done, total, now - self.started, nbytes)
        if self.tty:
            # \x1b[K clears what a longer previous line left behind.
            end = "\n" if final else ""
            print(f"\r{line}\x1b[K", end=end, file=self.stream, flush=True)
        elif final and self.piped_summary:
            print(line, file=self.stream)
