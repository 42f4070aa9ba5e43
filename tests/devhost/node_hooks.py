"""Running a script under one of the local stack's Node.js hooks (``devhost/*.js``, loaded with
``node --require`` as the stack loads them before Azurite), for the hooks' tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_under_hook(hook: str, script: str) -> Any:
    """What ``script`` prints as JSON, run with ``devhost/<hook>`` required first; the script
    gets the hook's path as ``process.argv[1]``, to require its exports."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the local stack"
    path = ROOT / "devhost" / hook
    run = subprocess.run(
        [node, "--require", str(path), "-e", script, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)
