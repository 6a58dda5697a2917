"""Browser fixtures: Debian's Chromium driven by Playwright against a real ``infotrack serve``.

The browser is ``/usr/bin/chromium`` (``INFOTRACK_TEST_CHROMIUM`` to change it); Playwright is
never allowed to download one. Without it (or without built assets) these tests skip with the
reason, unless ``INFOTRACK_TEST_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from infotrack.config import Settings
from infotrack.console.router import DIST
from infotrack.db import Sources
from infotrack.maintenance.demo import DEMO_PASSWORD
from infotrack.maintenance.schema import initialise
from tests.conftest import make_settings, run_cli, run_server

CHROMIUM = os.environ.get("INFOTRACK_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("INFOTRACK_TEST_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DEMO_EVENTS = "3000"
# Small enough that an unfiltered PDF export is refused: the console must show why.
PDF_LIMIT = 500
SCREENSHOTS = os.environ.get("INFOTRACK_SCREENSHOTS_DIR")


def _unavailable_reason() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not (DIST / "console.js").is_file():
        return "console assets not built (make assets)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Chromium per test module.

    Not per session: Playwright's synchronous API keeps its event loop marked as running in
    the main thread while it is started, and later tests run private event loops there.
    """
    reason = _unavailable_reason()
    if reason:
        if REQUIRE_BROWSER:
            pytest.fail(f"browser tests are mandatory here: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Site:
    """A served infotrack with the demo data loaded."""

    base: str
    settings: Settings
    sources: Sources
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, username: str) -> httpx.Client:
        """An HTTP client signed in as ``username`` (bearer token)."""
        token = self.tokens.get(username)
        if token is None:
            answer = httpx.post(
                f"{self.base}/api/auth/login",
                json={"username": username, "password": DEMO_PASSWORD},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            token = self.tokens[username] = answer.json()["token"]
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def get(self, username: str, path: str, **params: Any) -> Any:
        """``GET path`` as ``username``; the answer's ``data``."""
        with self.api(username) as client:
            answer = client.get(path, params={k: v for k, v in params.items() if v is not None})
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    def record(self, username: str, phone: str, text: str, **extra: Any) -> dict[str, Any]:
        """Record an event as ``username`` through the API; the answer's ``data``."""
        with self.api(username) as client:
            answer = client.post(
                "/api/information-tracking/record",
                json={"phoneNumber": phone, "operationEvent": text, **extra},
            )
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data


def serve_demo(data_dir: Path, urls: dict[str, str]) -> Iterator[Site]:
    """Initialise, load the demo data set and serve it; the site."""
    settings = make_settings(urls, data_dir)
    sources = Sources.from_settings(settings)
    initialise(sources, settings)
    loaded = run_cli(settings, "demo", "--events", DEMO_EVENTS, "--days", "14")
    assert loaded.returncode == 0, loaded.stderr
    extra = {"INFOTRACK_EXPORT_MAX_ROWS_PDF": str(PDF_LIMIT)}
    try:
        with run_server(settings, workers=1, extra_env=extra) as base:
            yield Site(base, settings, sources)
    finally:
        sources.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The demo site on SQLite files, shared by a module's tests."""
    data = tmp_path_factory.mktemp("site")
    urls = {name: f"sqlite:///{data / name}.db" for name in ("wechat", "primary")}
    yield from serve_demo(data, urls)


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    """A fresh browser context (English-speaking browser: the console must still be Chinese).

    Any uncaught script error on the page fails the test.
    """
    context = browser.new_context(
        base_url=site.base, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors


def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the console's form and wait for the header."""
    page.goto("/")
    page.fill(".login-form input[name=username]", username)
    page.fill(".login-form input[name=password]", password)
    page.click(".login-form button[type=submit]")
    page.wait_for_selector(".topbar .who-name")


def screenshot(page: Page, name: str, tmp_path: Path, *, full_page: bool = False) -> Path:
    """Save a screenshot (also to $INFOTRACK_SCREENSHOTS_DIR, for the README); its path."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000  # a real picture, not a blank page
    if SCREENSHOTS:
        target = Path(SCREENSHOTS) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    return path
