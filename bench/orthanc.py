"""A throw-away Orthanc (Debian's `orthanc` and `orthanc-dicomweb`) as the peer server.

Orthanc binds every interface, so it is configured to refuse remote HTTP clients
(``RemoteAccessAllowed: false``), with its DICOM server off, and is only ever loaded from
loopback. Its storage and index live in a temporary directory, removed with it. Everything else
is Orthanc's default configuration, as a Debian install runs it.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

DEBIAN_PACKAGES = ("orthanc", "orthanc-dicomweb")
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
DICOMWEB_ROOT = "/dicom-web"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def ensure_installed() -> str:
    """The Orthanc binary, installed from Debian's packages first if it is missing."""
    binary = shutil.which("Orthanc")
    if binary is None or not PLUGIN.exists():
        subprocess.run(
            ["apt-get", "install", "-y", "-q", *DEBIAN_PACKAGES],
            check=True,
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        binary = shutil.which("Orthanc")
    if binary is None or not PLUGIN.exists():
        raise RuntimeError(f"Orthanc or {PLUGIN} is missing after installing {DEBIAN_PACKAGES}")
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def configuration(directory: Path, http_port: int) -> dict[str, object]:
    return {
        "Name": "bench-peer",
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "index"),
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": False,
        "Plugins": [str(PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": DICOMWEB_ROOT + "/"},
    }


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"Orthanc exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"Orthanc did not answer within {READY_TIMEOUT:.0f} s")


@contextmanager
def running_orthanc() -> Iterator[str]:
    """Start Orthanc on a free loopback port; yield its DICOMweb root URL."""
    binary = ensure_installed()
    with tempfile.TemporaryDirectory(prefix="bench-orthanc-") as tmp:
        directory = Path(tmp)
        port = _free_port()
        config = directory / "orthanc.json"
        config.write_text(json.dumps(configuration(directory, port), indent=2))
        log = directory / "orthanc.log"
        with log.open("wb") as out:
            process = subprocess.Popen([binary, str(config)], stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(process, f"{base}/system", log)
            yield base + DICOMWEB_ROOT
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
