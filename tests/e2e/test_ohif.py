"""A radiologist reads studies in the OHIF viewer, on another origin, against the service.

The study list fills from QIDO-RS, opening a study shows its series thumbnails from the service
and renders its images from WADO-RS metadata and frames, and a multi-frame instance's frames all
load, with no request to the service failing.
"""

from __future__ import annotations

import asyncio
import io
import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.async_api import Page
from pydicom.dataset import Dataset

from tests.data.builders import fresh_tutorial_study, multipart, to_bytes, with_fresh_uids
from tests.e2e.conftest import Deployment, Tab
from tests.functions.test_store import post

pytestmark = pytest.mark.integration

PATIENT_NAME = "Viewer^Ohif"
# How the study list writes that name.
PATIENT_SHOWN = "Viewer, Ohif"
PATIENT_ID = "OHIF-E2E-1"
TUTORIAL_DESCRIPTION = "Shapes in two series"
# Multi-frame corpus files, each stored as another study of the same patient: one stored
# uncompressed, one as JPEG baseline (its frames go to the browser as stored, to be decoded
# there). File: study description.
MULTIFRAMES = {
    "emri_small.dcm": "Enhanced MR, 10 frames",
    "examples_ybr_color.dcm": "Ultrasound, JPEG, 30 frames",
}
# File: the media type its frames are sent as.
FRAME_TYPES = {
    "emri_small.dcm": "application/octet-stream",
    "examples_ybr_color.dcm": "image/jpeg",
}
# How this OHIF asks for frames: any transfer syntax, the type not quoted.
OHIF_FRAMES_ACCEPT = "multipart/related; type=application/octet-stream; transfer-syntax=*"
# Bounds on waiting for the page, not assertions on speed.
PAGE_TIMEOUT_MS = 60_000
RENDER_POLL_SECONDS = 0.5
KEY_PAUSE_SECONDS = 0.05
# Set to a directory to keep the screenshots (the README's come from here).
SCREENSHOT_DIR = os.environ.get("DICOMWEB_E2E_SCREENSHOTS")


@dataclass(frozen=True)
class Multiframe:
    study: str
    frames: int


@dataclass(frozen=True)
class Stored:
    tutorial_study: str
    multiframes: dict[str, Multiframe]


def _for_patient(ds: Dataset, description: str) -> Dataset:
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.StudyDescription = description
    return ds


def _multiframe(name: str) -> Dataset:
    _, ds = with_fresh_uids(name)
    return _for_patient(ds, MULTIFRAMES[name])


@pytest.fixture(scope="module")
async def stored(deployment: Deployment) -> Stored:
    """The tutorial's study shape and, as the same patient's other studies, the multi-frames."""
    tutorial = [_for_patient(ds, TUTORIAL_DESCRIPTION) for ds in fresh_tutorial_study(256)]
    multiframes = {name: _multiframe(name) for name in MULTIFRAMES}
    files = [to_bytes(ds) for ds in [*tutorial, *multiframes.values()]]
    async with httpx.AsyncClient(base_url=deployment.service_url, timeout=60) as client:
        response = await post(client, multipart(files))
    assert response.status_code == 200, response.text
    return Stored(
        tutorial_study=tutorial[0].StudyInstanceUID,
        multiframes={
            name: Multiframe(ds.StudyInstanceUID, int(ds.NumberOfFrames))
            for name, ds in multiframes.items()
        },
    )


def _variance(png: bytes) -> float:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float(pixels.var())


def _shape_colour(png: bytes) -> tuple[int, int, int]:
    """Mean colour of the pixels that are not background (dark), rounded."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    shape = pixels[pixels.sum(axis=2) > 150]
    red, green, blue = (round(float(c)) for c in shape.mean(axis=0))
    return red, green, blue


async def _rendered_viewport(page: Page) -> bytes:
    """A screenshot of the first viewport's canvas once it shows an image (not one flat colour).

    Waits for the canvas, then polls its screenshot, since the image arrives after the frame
    requests complete; gives up after PAGE_TIMEOUT_MS.
    """
    canvas = page.locator("canvas.cornerstone-canvas").first
    await canvas.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PAGE_TIMEOUT_MS / 1000
    while True:
        shot = await canvas.screenshot()
        if _variance(shot) > 0 or loop.time() > deadline:
            return shot
        await asyncio.sleep(RENDER_POLL_SECONDS)


async def _scroll_to_last_frame(page: Page, frames: int) -> None:
    """Step through the frames with the next-image key until the overlay shows the last one.

    Keys pressed while the viewer is still busy can be dropped, so this presses again until the
    overlay's "(n/n)" appears, within PAGE_TIMEOUT_MS.
    """
    await page.locator("canvas.cornerstone-canvas").first.hover()
    last = page.get_by_text(f"({frames}/{frames})")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PAGE_TIMEOUT_MS / 1000
    while not await last.count():
        assert loop.time() < deadline, f"the viewer did not reach frame {frames}"
        await page.keyboard.press("ArrowDown")
        await asyncio.sleep(KEY_PAUSE_SECONDS)


async def _skip_tour(page: Page) -> None:
    """Close OHIF's first-visit tour, which covers part of the viewport."""
    skip = page.get_by_text("Skip all")
    if await skip.count():
        await skip.first.click()


async def _keep(page: Page, name: str) -> None:
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOT_DIR) / name))


async def test_study_list_shows_the_studies(
    tab: Tab, deployment: Deployment, stored: Stored
) -> None:
    await tab.page.goto(deployment.viewer_url + "/", timeout=PAGE_TIMEOUT_MS)
    for description in (TUTORIAL_DESCRIPTION, *MULTIFRAMES.values()):
        await tab.page.get_by_text(description).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    assert await tab.page.get_by_text(PATIENT_SHOWN).count() == 1 + len(MULTIFRAMES)
    await _keep(tab.page, "ohif-study-list.png")
    assert tab.log.answered("/v2/studies")
    assert tab.log.failures == []


async def test_study_list_filters_by_patient_name(
    tab: Tab, deployment: Deployment, stored: Stored
) -> None:
    """OHIF sends `PatientName=*text*`; no match is a 204 the list shows as empty."""
    page = tab.page
    await page.goto(deployment.viewer_url + "/", timeout=PAGE_TIMEOUT_MS)
    await page.get_by_text(TUTORIAL_DESCRIPTION).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    patient_filter = page.locator("input").first  # the Patient column's
    await patient_filter.fill("nobody")
    await page.get_by_text("No studies available").wait_for(timeout=PAGE_TIMEOUT_MS)
    await patient_filter.fill("viewer")
    await page.get_by_text(TUTORIAL_DESCRIPTION).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    searched = [r.url for r in tab.log.responses if "PatientName=" in r.url]
    assert any("PatientName=*viewer*" in url for url in searched), searched
    assert tab.log.failures == []


async def test_opening_a_study_renders_its_images(
    tab: Tab, deployment: Deployment, stored: Stored
) -> None:
    url = f"{deployment.viewer_url}/viewer?StudyInstanceUIDs={stored.tutorial_study}"
    await tab.page.goto(url, timeout=PAGE_TIMEOUT_MS)
    shot = await _rendered_viewport(tab.page)
    await _skip_tour(tab.page)
    await _keep(tab.page, "ohif-viewer.png")
    assert _variance(shot) > 0
    # The first series' first instance: the red triangle, in its own colour.
    red, green, blue = _shape_colour(shot)
    assert red > 200 and green < 40 and blue < 40, (red, green, blue)
    # Both series' metadata, their thumbnails from the service, a frame of each instance shown,
    # and the search for the patient's other studies.
    assert len(tab.log.answered("/metadata")) == 2
    thumbnails = tab.log.answered("/thumbnail")
    assert len(thumbnails) == 2
    for thumbnail in thumbnails:
        assert (await thumbnail.all_headers())["content-type"] == "image/jpeg"
    assert len(tab.log.answered("/frames/")) == 2  # the two instances of the series shown
    priors = [r for r in tab.log.answered("/v2/studies") if PATIENT_ID in r.url]
    assert priors
    assert tab.log.failures == []


@pytest.mark.parametrize("name", MULTIFRAMES)
async def test_multiframe_instance_plays_through_its_frames(
    tab: Tab, deployment: Deployment, stored: Stored, name: str
) -> None:
    multiframe = stored.multiframes[name]
    url = f"{deployment.viewer_url}/viewer?StudyInstanceUIDs={multiframe.study}"
    await tab.page.goto(url, timeout=PAGE_TIMEOUT_MS)
    shot = await _rendered_viewport(tab.page)
    assert _variance(shot) > 0
    await _skip_tour(tab.page)
    await _scroll_to_last_frame(tab.page, multiframe.frames)
    await _keep(tab.page, f"ohif-{Path(name).stem}.png")
    assert tab.log.frames() == set(range(1, multiframe.frames + 1))
    frame = tab.log.answered("/frames/")[0]
    assert (await frame.request.all_headers())["accept"] == OHIF_FRAMES_ACCEPT
    assert f'type="{FRAME_TYPES[name]}"' in (await frame.all_headers())["content-type"]
    assert tab.log.failures == []
