"""Browser tier: the console (``/console``) driven in a real Chromium by Playwright, against the real ``serve`` process.

Why a real browser: what the console promises is kept by the browser or not at all: the session cookie's flags, the
CSRF token a page holds, the Content-Security-Policy, user strings shown as text, rows that move when the live stream
says so. Only a browser that enforces all of that can show it holds.

Where the browser comes from: Playwright's own browser download is not reachable on these machines, so Playwright
drives the system's Chromium (Debian's ``chromium``): ``TELEPHONY_TEST_CHROMIUM``, else ``/usr/bin/chromium``, else
``chromium`` on the PATH. Without the ``playwright`` module or a Chromium every test here skips and says which one is
missing; CI (``.ci/run``) installs both, so there they run.

What each test gets: one browser per module run (module scope, not session: Playwright's sync API keeps an event loop
running on the main thread while it is started, and every later test of the same process that calls
``asyncio.run()``, as the NATS helpers do, would then fail; a module's end stops it), a fresh
context (cookies, storage: a new person) per ``people()`` call, and a server of its own (``service_factory`` of the
e2e tier) with two keys, ``admin`` (``*``) and ``viewer`` (``read``), NATS off. Every page fails its test on an
uncaught script error or a Content-Security-Policy violation: either means part of the console does not work.

Screenshots: with ``TELEPHONY_SCREENSHOTS=1`` they are written into ``docs/screenshots/`` (what the README shows);
otherwise into the test's tmp dir, so an ordinary run leaves the tree alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

# The e2e tier's server fixtures, and its hook that attaches each server's output to a failed test's report.
from tests.e2e.conftest import (  # noqa: F401
    PROJECT_ROOT,
    ServiceProcess,
    pytest_runtest_makereport,
    service_factory,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, Playwright

ADMIN_KEY = "admin-key-0123456789abcdef"
VIEWER_KEY = "viewer-key-0123456789abcdef"
API_KEYS = f"admin:{ADMIN_KEY}:*,viewer:{VIEWER_KEY}:read"
CHROMIUM_VARIABLE = "TELEPHONY_TEST_CHROMIUM"
SCREENSHOTS_VARIABLE = "TELEPHONY_SCREENSHOTS"
SCREENSHOTS_DIR = PROJECT_ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium opens connections of its own (updates, sync, field trials) that this closed network
    # refuses, and each refusal is noise in the log and a delay at start.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ACTION_TIMEOUT_MS = 10_000
"""A click, a fill or a navigation that takes longer is a failure (generous: CI machines can be slow and loaded)."""


def chromium_executable() -> str | None:
    """The system Chromium: ``TELEPHONY_TEST_CHROMIUM``, else ``/usr/bin/chromium``, else ``chromium`` on the PATH."""
    configured = os.environ.get(CHROMIUM_VARIABLE)
    if configured:
        return configured if Path(configured).exists() else None
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser tests need the playwright module: pip install -c constraints.txt -e '.[dev]'")
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """One headless Chromium for this module's tests in this pytest process (each xdist worker launches its own)."""
    executable = chromium_executable()
    if executable is None:
        where = os.environ.get(CHROMIUM_VARIABLE) or "/usr/bin/chromium or chromium on the PATH"
        pytest.skip(
            f"the browser tests need a Chromium ({where} not found): apt-get install chromium, "
            f"or point {CHROMIUM_VARIABLE} at one"
        )
    browser = playwright_driver.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Console:
    """The server under test and a REST client with the admin key, to set the scene and to check what pages did."""

    server: ServiceProcess
    api: httpx.Client

    @property
    def url(self) -> str:
        return self.server.url

    def configure_provider(self, **fields: Any) -> dict[str, Any]:
        """PUT /api/settings/telephony (Twilio, valid credentials, ``https://voice.example.com``, plus ``fields``)."""
        body = {
            "provider": "twilio",
            "public_base_url": "https://voice.example.com",
            "twilio_account_sid": "AC0123456789abcdef0123456789abcdef",
            "twilio_auth_token": "token-0123456789",
            **fields,
        }
        response = self.api.put("/api/settings/telephony", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def provider(self) -> dict[str, Any]:
        response = self.api.get("/api/settings/telephony")
        assert response.status_code == 200, response.text
        return response.json()

    def create_endpoint(self, phone_number: str, **fields: Any) -> dict[str, Any]:
        body = {"phone_number": phone_number, "provider": "twilio", "inbound_agent_name": "support-agent", **fields}
        response = self.api.post("/api/settings/endpoints", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def endpoint_by_number(self, phone_number: str) -> dict[str, Any] | None:
        response = self.api.get("/api/settings/endpoints", params={"phone_number": phone_number})
        assert response.status_code == 200, response.text
        found = response.json()
        return found[0] if found else None


@pytest.fixture
def console(service_factory: Callable[..., ServiceProcess]) -> Iterator[Console]:  # noqa: F811
    """A fresh server (SQLite, NATS off) with the admin and viewer keys."""
    server = service_factory(env={"TELEPHONY_API_KEYS": API_KEYS, "TELEPHONY_NATS_URL": "off"})
    with httpx.Client(
        base_url=server.url, timeout=30.0, trust_env=False, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as api:
        yield Console(server, api)


@dataclass
class Person:
    """Someone at the console: a browser context of their own (cookies, storage) and one page in it."""

    context: BrowserContext
    page: Page
    screenshots: Path
    dialogs: list[str] = field(default_factory=list)
    """Every dialog the page opened, as ``"<type>: <message>"``; confirms are accepted, anything else dismissed."""
    problems: list[str] = field(default_factory=list)
    """Uncaught script errors and Content-Security-Policy violations: each fails the test."""

    def __post_init__(self) -> None:
        self.page.on("dialog", self._on_dialog)
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught script error: {error}"))
        self.page.on("console", self._on_console)

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.problems.append(f"CSP violation: {message.text}")

    def sign_in(self, key: str = ADMIN_KEY) -> Page:
        """Sign in through the sign-in form and land on the console."""
        page = self.page
        page.goto("/console/sign-in")
        page.locator('input[name="api_key"]').fill(key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/console(/[a-z]*)?/?$"))
        return page

    def open(self, path: str) -> Page:
        self.page.goto(path)
        return self.page

    def screenshot(self, name: str) -> Path:
        """``<name>.png`` of the viewport: into docs/screenshots with TELEPHONY_SCREENSHOTS=1, else the tmp dir."""
        path = self.screenshots / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), animations="disabled", caret="hide")
        return path


@pytest.fixture
def people(browser: Browser, console: Console, tmp_path: Path) -> Iterator[Callable[[], Person]]:
    """``people()``: a new person (a fresh context on the console's URL) each call; all closed at the end."""
    screenshots = SCREENSHOTS_DIR if os.environ.get(SCREENSHOTS_VARIABLE) == "1" else tmp_path / "screenshots"
    made: list[Person] = []

    def make() -> Person:
        context = browser.new_context(base_url=console.url, viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
        # So the Copy button can be checked end to end; where a browser refuses, the copy test checks the button.
        with contextlib.suppress(Exception):
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console.url)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        person = Person(context, context.new_page(), screenshots)
        made.append(person)
        return person

    yield make
    problems = [problem for person in made for problem in person.problems]
    for person in made:
        person.context.close()
    if problems:
        pytest.fail("the console's pages reported problems:\n" + "\n".join(problems))


@pytest.fixture
def person(people: Callable[[], Person]) -> Person:
    """One person at the console, not yet signed in."""
    return people()
