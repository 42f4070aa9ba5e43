"""The OHIF viewer's prebuilt bundle (npm `@ohif/app`) served on loopback, pointed at this
service, for trying the service from a browser (`python -m devhost viewer`) and for the browser
test (`tests/e2e`).

OHIF is a single-page app: every path that is not a file of the bundle answers `index.html`, and
the page reads its settings from `/app-config.js`. That file is made here from the DICOMweb root
instead of being written into node_modules, so the installed package stays as npm put it.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from devhost.children import StackError
from devhost.settings import LOOPBACK

# Where `npm ci` puts the bundle, relative to the repository root.
DIST = Path("node_modules") / "@ohif" / "app" / "dist"
DEFAULT_PORT = 3000


def viewer_dist(root: Path) -> Path:
    dist = root / DIST
    if not (dist / "index.html").is_file():
        raise StackError(f"{dist} is missing: run `npm ci` in the repository root (`make deps`)")
    return dist


def data_source(dicomweb_root: str) -> dict[str, object]:
    """OHIF's DICOMweb data source for this service (OHIF 3.13 keys).

    What the service offers, so that OHIF sends the requests it answers best: `includefield`
    on searches, WADO-RS metadata and frames (`wadors`) for images, the service's cached
    `/thumbnail` for thumbnails (no pixel decoding in the browser for a series panel), and
    BulkDataURIs as the service writes them. Names match exactly; OHIF's wildcard search
    appends `*`.
    """
    return {
        "friendlyName": "DICOMweb on Azure Functions",
        "name": "dicomweb-functions",
        "wadoUriRoot": dicomweb_root,
        "qidoRoot": dicomweb_root,
        "wadoRoot": dicomweb_root,
        "qidoSupportsIncludeField": True,
        "supportsReject": False,
        "supportsFuzzyMatching": False,
        "supportsWildcard": True,
        "imageRendering": "wadors",
        "thumbnailRendering": "thumbnail",
        "enableStudyLazyLoad": True,
        "staticWado": False,
        "bulkDataURI": {"enabled": True},
        "omitQuotationForMultipartRequest": True,
    }


def app_config(dicomweb_root: str) -> str:
    """The text of `app-config.js`: one DICOMweb data source, no dialogs in the way."""
    config = {
        "routerBasename": "/",
        "extensions": [],
        "modes": [],
        "showStudyList": True,
        "maxNumberOfWebWorkers": 2,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": False,
        "showLoadingIndicator": True,
        "investigationalUseDialog": {"option": "never"},
        "defaultDataSourceName": "dicomweb",
        "dataSources": [
            {
                "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                "sourceName": "dicomweb",
                "configuration": data_source(dicomweb_root),
            }
        ],
    }
    return f"window.config = {json.dumps(config, indent=2)};\n"


class _Handler(SimpleHTTPRequestHandler):
    """Files of the bundle, the generated config, and index.html for every other path."""

    extensions_map = {  # noqa: RUF012 (the base class declares it a plain class attribute)
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
    }

    def __init__(
        self,
        request: socket.socket,
        client_address: tuple[str, int],
        server: socketserver.BaseServer,
        *,
        directory: str,
        config: bytes,
    ) -> None:
        self._config = config
        super().__init__(request, client_address, server, directory=directory)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/app-config.js":
            self._send(self._config, "text/javascript")
            return
        if not Path(self.translate_path(path)).is_file():
            self.path = "/index.html"
        super().do_GET()

    def _send(self, body: bytes, media_type: str) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the browser's own log says what was asked for."""


class ViewerServer:
    """The viewer on 127.0.0.1:`port` (0: a free one) in a background thread.

    Use as a context manager; `url` is the viewer's address and also its browser origin, the
    value to give the service in DICOMWEB_CORS_ORIGINS.
    """

    def __init__(self, root: Path, dicomweb_root: str, port: int = 0) -> None:
        handler = partial(
            _Handler,
            directory=str(viewer_dist(root)),
            config=app_config(dicomweb_root).encode(),
        )
        self._server = ThreadingHTTPServer((LOOPBACK, port), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def serve_forever(self) -> None:
        """In this thread, until KeyboardInterrupt."""
        with self._server:
            self._server.serve_forever()

    def __enter__(self) -> ViewerServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
