"""The app sets the garbage collector for a server as it is imported, in every host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shared import collector

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_app_sets_the_thresholds() -> None:
    """In a fresh interpreter, so the thresholds seen are the import's, not another test's."""
    shown = subprocess.run(
        [sys.executable, "-c", "import gc, function_app; print(*gc.get_threshold())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [int(n) for n in shown] == [collector.YOUNG, collector.OLDER, collector.OLDER]
