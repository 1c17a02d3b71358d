"""A headless Chromium for tests of the HTML reports: offline, and watching for outside requests.

Use it with `from browser import browser_page` and a `browser_page` argument. Without Chromium
the tests skip locally but fail under CI (the CI variable set): CI must never pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Error, Page, Request, Route, WebSocket

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "BrowserPage", "browser_page", "chromium"]

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; never `playwright install` (no downloads)
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
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(
            f"{reason}; CI must run the browser tests: install Debian's chromium and the "
            "playwright Python package (not `playwright install`)",
            pytrace=False,
        )
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the session."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class BrowserPage:
    """A fresh page; any request that is not to a file:, data: or about: URL is blocked."""

    page: Page
    directory: Path
    outside: list[str] = field(default_factory=list)  # URLs the page tried to reach
    errors: list[str] = field(default_factory=list)  # uncaught script errors
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt messages

    def open(self, html: str, name: str = "page.html") -> Page:
        """Write `html` to a file and load it by its file:// URL, as a user opening it would."""
        path = self.directory / name
        path.write_text(html, encoding="utf-8")
        self.page.goto(path.as_uri())
        return self.page


@pytest.fixture
def browser_page(chromium: Browser, tmp_path: Path) -> Iterator[BrowserPage]:
    """A page in its own context; the test fails if the page reached outside or threw."""
    context = chromium.new_context()
    page = context.new_page()
    watched = BrowserPage(page, tmp_path)

    def on_route(route: Route) -> None:
        if route.request.url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            route.abort()

    def on_request(request: Request) -> None:
        if not request.url.startswith(LOCAL_SCHEMES):
            watched.outside.append(request.url)

    def on_websocket(ws: WebSocket) -> None:
        watched.outside.append(ws.url)

    context.route("**/*", on_route)
    page.on("request", on_request)
    page.on("websocket", on_websocket)

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_error(error: Error) -> None:
        watched.errors.append(str(error))

    page.on("pageerror", on_error)
    page.on("dialog", on_dialog)
    try:
        yield watched
    finally:
        context.close()
    assert not watched.outside, f"the page tried to reach outside: {watched.outside}"
    assert not watched.errors, f"the page threw: {watched.errors}"
