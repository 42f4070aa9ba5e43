"""The OHIF viewer's static server: the bundle's files, the generated config, the app's routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.children import StackError
from devhost.viewer import DIST, ViewerServer, app_config, viewer_dist

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "http://127.0.0.1:7071/v2"


def _config(text: str) -> dict[str, Any]:
    prefix, suffix = "window.config = ", ";\n"
    assert text.startswith(prefix) and text.endswith(suffix)
    parsed: dict[str, Any] = json.loads(text[len(prefix) : -len(suffix)])
    return parsed


def test_config_points_every_root_at_the_service() -> None:
    config = _config(app_config(SERVICE))
    (source,) = config["dataSources"]
    assert config["defaultDataSourceName"] == source["sourceName"]
    settings = source["configuration"]
    assert {settings[k] for k in ("qidoRoot", "wadoRoot", "wadoUriRoot")} == {SERVICE}
    # No /rendered or /thumbnail: images and thumbnails come from WADO-RS frames.
    assert (settings["imageRendering"], settings["thumbnailRendering"]) == ("wadors", "thumbnail")


def test_missing_bundle_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="npm ci"):
        viewer_dist(tmp_path)


@pytest.fixture(scope="module")
def viewer() -> Iterator[ViewerServer]:
    with ViewerServer(ROOT, SERVICE) as server:
        yield server


def test_serves_the_generated_config(viewer: ViewerServer) -> None:
    response = httpx.get(f"{viewer.url}/app-config.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript"
    assert response.text == app_config(SERVICE)


def test_app_routes_answer_the_page(viewer: ViewerServer) -> None:
    index = (ROOT / DIST / "index.html").read_bytes()
    for path in ("/", "/viewer?StudyInstanceUIDs=1.2.3", "/local"):
        response = httpx.get(viewer.url + path)
        assert response.status_code == 200
        assert response.content == index


def test_bundle_files_keep_their_media_types(viewer: ViewerServer) -> None:
    wasm = next((ROOT / DIST).glob("*.wasm"))
    response = httpx.get(f"{viewer.url}/{wasm.name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/wasm"
    assert response.content == wasm.read_bytes()
