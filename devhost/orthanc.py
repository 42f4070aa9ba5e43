"""A throw-away Orthanc (Debian's `orthanc` and `orthanc-dicomweb`), for the benchmarks' peer
server and for the tests that drive Orthanc as a DICOMweb client of this service.

Orthanc binds every interface, so it is configured to refuse remote HTTP clients
(``RemoteAccessAllowed: false``), with its DICOM server off, and is only ever called from
loopback. Its storage and index live in a temporary directory, removed with it. Everything else
is Orthanc's default configuration, as a Debian install runs it.

The packages are installed by ``make`` (which may need root); here a missing install is an
error rather than something to work around, so a test that needs Orthanc fails instead of
quietly not running.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

DEBIAN_PACKAGES = ("orthanc", "orthanc-dicomweb")
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
DICOMWEB_ROOT = "/dicom-web"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def installed_binary() -> str:
    """The Orthanc binary; RuntimeError when it or the DICOMweb plugin is not installed."""
    binary = shutil.which("Orthanc", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if binary is None or not PLUGIN.exists():
        raise RuntimeError(
            f"Orthanc with its DICOMweb plugin is not installed: "
            f"apt-get install {' '.join(DEBIAN_PACKAGES)} (make test and make bench do)"
        )
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def configuration(
    directory: Path, http_port: int, *, name: str, servers: Mapping[str, str]
) -> dict[str, object]:
    """Orthanc's configuration; ``servers`` names the DICOMweb servers Orthanc may call (root
    URLs), as its ``DicomWeb.Servers`` option takes them."""
    return {
        "Name": name,
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "index"),
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": False,
        "Plugins": [str(PLUGIN)],
        "DicomWeb": {
            "Enable": True,
            "Root": DICOMWEB_ROOT + "/",
            "Servers": {key: [url] for key, url in servers.items()},
        },
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
def running_orthanc(
    *, name: str = "peer", servers: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Start Orthanc on a free loopback port; yield the base URL of its REST API.

    Its own DICOMweb server is at ``DICOMWEB_ROOT`` under that URL.
    """
    binary = installed_binary()
    with tempfile.TemporaryDirectory(prefix="orthanc-") as tmp:
        directory = Path(tmp)
        port = _free_port()
        config = directory / "orthanc.json"
        settings = configuration(directory, port, name=name, servers=servers or {})
        config.write_text(json.dumps(settings, indent=2))
        log = directory / "orthanc.log"
        with log.open("wb") as out:
            process = subprocess.Popen([binary, str(config)], stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(process, f"{base}/system", log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
