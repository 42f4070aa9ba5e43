"""The OHIF viewer in Debian's headless Chromium against a stack of its own.

The stack is separate from the session's so that the study list holds only this module's
studies, and so that it can allow the viewer's origin (DICOMWEB_CORS_ORIGINS), which is known
only once the viewer's port is taken. Chromium is the system browser driven by Playwright; no
browser is downloaded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import BrowserContext, Page, Request, Response, async_playwright

from devhost.stack import LocalStack
from devhost.viewer import ViewerServer
from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
# The machine (and CI) has no internet: without these Chromium keeps trying Google's services.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WINDOW = {"width": 1280, "height": 800}


@dataclass(frozen=True)
class Deployment:
    """The service and the viewer that reads it."""

    service_url: str
    viewer_url: str


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    local = LocalStack(ROOT, tmp_path_factory.mktemp("ohif-stack"))
    viewer = ViewerServer(ROOT, f"{local.base_url}/v2")
    local.env["DICOMWEB_CORS_ORIGINS"] = viewer.url
    with local, viewer:
        yield Deployment(local.base_url, viewer.url)


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=WINDOW,
            service_workers="block",
        )
        try:
            yield context
        finally:
            await context.close()


@dataclass
class ServiceLog:
    """What the page asked of the service: every response, and every failure."""

    service_url: str
    responses: list[Response] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def on_response(self, response: Response) -> None:
        if response.url.startswith(self.service_url):
            self.responses.append(response)
            if response.status >= 400:
                self.failures.append(f"{response.status} {response.request.method} {response.url}")

    def on_failed(self, request: Request) -> None:
        if request.url.startswith(self.service_url):
            self.failures.append(f"{request.failure} {request.method} {request.url}")

    def answered(self, part: str) -> list[Response]:
        """Responses of 200 to requests whose URL path contains `part`."""
        return [r for r in self.responses if r.status == 200 and part in urlsplit(r.url).path]

    def frames(self) -> set[int]:
        """Frame numbers answered with 200 (one frame per request, as OHIF asks)."""
        return {int(r.url.rsplit("/", 1)[1]) for r in self.answered("/frames/")}


@dataclass
class Tab:
    page: Page
    log: ServiceLog


@pytest.fixture
async def tab(browser: BrowserContext, deployment: Deployment) -> AsyncIterator[Tab]:
    """A new page whose requests to the service are logged."""
    page = await browser.new_page()
    log = ServiceLog(deployment.service_url)
    page.on("response", log.on_response)
    page.on("requestfailed", log.on_failed)
    try:
        yield Tab(page, log)
    finally:
        # Shown with a failing test: a wait that timed out often has its cause here.
        print("failed requests to the service:", *log.failures or ["none"], sep="\n  ")
        await page.close()
