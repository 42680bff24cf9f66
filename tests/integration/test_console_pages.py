"""The console's pages over HTTP (``/console``, ``service.console``): sign in and out, the session cookie and what it
may do on the API, the redirects without a session, the security headers and the absence of inline code, and the
controls each key's pages offer. What the pages do in a browser is the browser suite's; here is what a page and the
server promise before any script runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from litestar.testing import TestClient

from service.console.pages import CONTENT_SECURITY_POLICY, STATIC_DIR, TEMPLATES_DIR, provider_groups
from service.http.schemas import ProviderSettingsUpdate
from service.http.sessions import COOKIE, SESSION_HOURS
from service.settings import Settings
from tests.clients import api_client
from tests.integration.support import ENDPOINTS, TELEPHONY, sqlite_only

ADMIN_KEY = "admin-key-0123456789abcdef"
READER_KEY = "reader-key-0123456789abcdef"
OPERATOR_KEY = "operator-key-0123456789abcdef"
AUDITOR_KEY = "auditor-key-0123456789abcdef"
KEYS = f"admin:{ADMIN_KEY}:*,reader:{READER_KEY}:read,operator:{OPERATOR_KEY}:read+write,auditor:{AUDITOR_KEY}:audit"
PAGES = ("/console", "/console/provider", "/console/numbers", "/console/history")
EDIT_BUTTONS = ("Save", "Create", "Edit", "Delete", "Replace", "Yes, delete")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The pages are decided before storage: SQLite alone."""
    return replace(sqlite_only(tmp_path), api_keys=KEYS)


@pytest.fixture
def browser(settings: Settings) -> Iterator[TestClient]:
    """A client without a key: what a browser sends is its cookies."""
    with api_client(settings, key=None) as client:
        yield client


def sign_in(client: TestClient, key: str = ADMIN_KEY, **headers: str) -> str:
    response = client.post("/console/sign-in", data={"api_key": key}, headers=headers, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"]


def csrf_token(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


class Page(HTMLParser):
    """What the tests look for in a page: buttons, labelled controls, inline code, hooks."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.buttons: list[str] = []
        self.controls: list[dict[str, str | None]] = []
        self.labels: set[str] = set()
        self.links: list[str] = []
        self.inline_code: list[str] = []
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.error_slots: set[str] = set()
        self.metas: dict[str, str] = {}
        self._in_button = False
        self._in_script = False
        self._text = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.inline_code.append(f"<{tag} {name}={value!r}>")
            if name == "style":
                self.inline_code.append(f"<{tag} style={value!r}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.inline_code.append(f"<{tag} {name}={value!r}>")
        if tag == "style":
            self.inline_code.append("<style> element")
        if tag == "script":
            self._in_script = True
            self.scripts.append(attributes.get("src") or "")
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes.get("href") or "")
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"] or "")
        if tag == "button":
            self._in_button, self._text = True, ""
        if tag in ("input", "select", "textarea") and attributes.get("type") != "hidden":
            self.controls.append(attributes)
        if tag == "label" and attributes.get("for"):
            self.labels.add(attributes["for"] or "")
        if attributes.get("data-error-for"):
            self.error_slots.add(attributes["data-error-for"] or "")
        if tag == "meta" and attributes.get("name"):
            self.metas[attributes["name"] or ""] = attributes.get("content") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._in_button = False
            self.buttons.append(" ".join(self._text.split()))
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_button:
            self._text += data
        if self._in_script and data.strip():
            self.inline_code.append(f"<script> body: {data.strip()[:40]!r}")


# -- signing in -----------------------------------------------------------------------------------------------------


def test_the_sign_in_page_is_served_without_a_session(browser: TestClient) -> None:
    response = browser.get("/console/sign-in")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = Page(response.text)
    password = [c for c in page.controls if c.get("name") == "api_key"]
    assert len(password) == 1
    assert password[0].get("type") == "password"
    assert password[0].get("id") in page.labels  # labelled
    assert "Sign in" in page.buttons
    assert "csrf-token" not in page.metas  # no session, no token


def test_a_wrong_key_gets_the_page_again_with_401_an_error_and_no_cookie(browser: TestClient) -> None:
    for key in ("not-a-key-0123456789", ""):
        response = browser.post("/console/sign-in", data={"api_key": key}, follow_redirects=False)
        assert response.status_code == 401
        assert "set-cookie" not in response.headers
        assert 'role="alert"' in response.text
        assert ("not valid" in response.text) if key else ("Enter an API key" in response.text)
        assert "not-a-key-0123456789" not in response.text  # a key is never echoed
    assert COOKIE not in browser.cookies


def test_a_right_key_gets_a_303_to_the_console_and_a_strict_session_cookie(browser: TestClient) -> None:
    response = browser.post("/console/sign-in", data={"api_key": ADMIN_KEY}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert cookie.startswith(f"{COOKIE}=")
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/"
    assert attributes["max-age"] == f"Max-Age={SESSION_HOURS * 3600}"
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    assert ADMIN_KEY not in cookie


def test_behind_an_https_proxy_the_cookie_is_secure(browser: TestClient) -> None:
    cookie = sign_in(browser, **{"X-Forwarded-Proto": "https"})
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_sign_in_returns_to_the_page_asked_for_and_never_elsewhere(browser: TestClient) -> None:
    redirected = browser.get("/console/numbers", follow_redirects=False)
    assert redirected.headers["location"] == "/console/sign-in?next=/console/numbers"
    assert 'name="next" value="/console/numbers"' in browser.get(redirected.headers["location"]).text
    for asked, landed in (("/console/numbers", "/console/numbers"), ("https://evil.example/", "/console")):
        response = browser.post("/console/sign-in", data={"api_key": ADMIN_KEY, "next": asked}, follow_redirects=False)
        assert response.headers["location"] == landed


def test_a_sign_in_posted_from_another_site_is_refused(browser: TestClient) -> None:
    """Login CSRF: another site's form must not sign the browser in under the attacker's key."""
    for headers in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"}, {"Origin": "null"}):
        response = browser.post("/console/sign-in", data={"api_key": ADMIN_KEY}, headers=headers)
        assert response.status_code == 403, headers
        assert "set-cookie" not in response.headers
    own = {"Origin": "http://testserver.local", "Referer": "http://testserver.local/console/sign-in"}
    proxied = {"Origin": "https://ts.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "ts.example.com"}
    for headers in (own, proxied):
        response = browser.post(
            "/console/sign-in", data={"api_key": ADMIN_KEY}, headers=headers, follow_redirects=False
        )
        assert response.status_code == 303, headers


# -- pages and sessions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_sign_in_without_a_valid_session(browser: TestClient, path: str) -> None:
    response = browser.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in")
    browser.cookies.set(COOKIE, "forged.cookie")
    response = browser.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert f"{COOKIE}=" in response.headers["set-cookie"]  # the stale cookie is expired
    assert "Max-Age=0" in response.headers["set-cookie"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_the_session_its_token_and_the_navigation(browser: TestClient, path: str) -> None:
    sign_in(browser)
    response = browser.get(path)
    assert response.status_code == 200
    page = Page(response.text)
    assert page.metas["csrf-token"]
    assert page.metas["session-name"] == "admin"
    assert page.metas["session-scopes"] == "*"
    assert "Signed in as <strong>admin</strong>" in response.text
    assert "Sign out" in page.buttons
    assert {"/console/provider", "/console/numbers", "/console/history"} <= set(page.links)


def test_every_console_response_has_the_security_headers(browser: TestClient) -> None:
    responses = [browser.get("/console/sign-in"), browser.get("/console", follow_redirects=False)]
    responses.append(browser.post("/console/sign-in", data={"api_key": "wrong-key-0123456789"}))
    sign_in(browser)
    responses += [browser.get(path) for path in PAGES]
    assets = sorted({src for r in responses for src in Page(r.text).scripts + Page(r.text).stylesheets})
    responses += [browser.get(asset) for asset in assets]
    for response in responses:
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, response.url
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-content-type-options"] == "nosniff"
        if response.headers.get("content-type", "").startswith("text/html") or response.is_redirect:
            assert response.headers["cache-control"] == "no-store", response.url
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY


def test_no_page_has_inline_script_or_style_and_every_control_has_a_label(browser: TestClient) -> None:
    sign_in(browser)
    for path in ("/console/sign-in", *PAGES):
        page = Page(browser.get(path).text)
        assert page.inline_code == [], path
        assert page.scripts, path
        assert all(src.startswith("/console/static/") for src in page.scripts), path
        unlabelled = [c for c in page.controls if c.get("id") not in page.labels]
        assert unlabelled == [], path


def test_no_template_holds_inline_code() -> None:
    """Also the parts a given key does not see."""
    for template in TEMPLATES_DIR.glob("*.html.j2"):
        text = template.read_text()
        assert Page(text).inline_code == [], template.name
        assert not re.search(r"\|\s*safe\b|autoescape\s+false", text), template.name


def test_the_script_never_writes_markup() -> None:
    script = (STATIC_DIR / "console.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink


def test_the_static_assets_are_served_by_the_service(browser: TestClient) -> None:
    expected = {"console.js": "text/javascript", "console.css": "text/css", "favicon.svg": "image/svg+xml"}
    for name, media_type in expected.items():
        response = browser.get(f"/console/static/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(media_type)
        assert response.content == (STATIC_DIR / name).read_bytes()
    assert browser.get("/console/static/%2E%2E/pages.py").status_code == 404


def test_no_page_needs_the_internet(browser: TestClient) -> None:
    sign_in(browser)
    for path in ("/console/sign-in", *PAGES):
        assert not re.search(r"""(src|href)=["'](https?:)?//""", browser.get(path).text), path


# -- the session on the API -----------------------------------------------------------------------------------------


def test_the_cookie_works_on_the_api_and_a_change_needs_the_csrf_token(browser: TestClient) -> None:
    sign_in(browser)
    token = csrf_token(browser.get("/console/numbers").text)
    listed = browser.get(ENDPOINTS)
    assert listed.status_code == 200
    assert listed.json() == []
    body = {"phone_number": "+14155550101", "provider": "twilio", "label": "<img src=x onerror=alert(1)>"}
    assert browser.post(ENDPOINTS, json=body).status_code == 403
    assert browser.post(ENDPOINTS, json=body, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    created = browser.post(ENDPOINTS, json=body, headers={"X-CSRF-Token": token})
    assert created.status_code == 201, created.text
    assert browser.get(ENDPOINTS).json()[0]["label"] == body["label"]  # stored as text: the pages show it as text


def test_a_read_only_session_may_not_change_anything_on_the_api(browser: TestClient) -> None:
    sign_in(browser, READER_KEY)
    token = csrf_token(browser.get("/console").text)
    assert browser.get(TELEPHONY).status_code == 200
    denied = browser.put(TELEPHONY, json={"public_base_url": "https://x.example.com"}, headers={"X-CSRF-Token": token})
    assert denied.status_code == 403


def test_sign_out_ends_the_session(browser: TestClient) -> None:
    sign_in(browser)
    cookie = browser.cookies[COOKIE]
    token = csrf_token(browser.get("/console").text)
    response = browser.post("/console/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in"
    assert "Max-Age=0" in response.headers["set-cookie"]
    browser.cookies.set(COOKIE, cookie)  # the old cookie, kept by someone: ended all the same
    assert browser.get(ENDPOINTS).status_code == 401
    assert browser.get("/console/numbers", follow_redirects=False).status_code == 303


def test_sign_out_without_the_token_is_refused(browser: TestClient) -> None:
    sign_in(browser)
    response = browser.post("/console/sign-out", data={"csrf_token": "forged"}, follow_redirects=False)
    assert response.status_code == 403
    assert browser.get(ENDPOINTS).status_code == 200  # still signed in


# -- what each key's pages offer -------------------------------------------------------------------------------------


def test_a_read_only_key_sees_no_edit_controls(browser: TestClient) -> None:
    sign_in(browser, READER_KEY)
    for path in ("/console/provider", "/console/numbers"):
        page = Page(browser.get(path).text)
        assert not set(page.buttons) & set(EDIT_BUTTONS), path
        assert "/console/history" not in page.links  # no audit scope, no History tab
    provider = Page(browser.get("/console/provider").text)
    for control in provider.controls:
        assert "readonly" in control or "disabled" in control, control
    numbers = browser.get("/console/numbers").text
    assert 'id="create-form"' not in numbers
    assert 'id="edit-dialog"' not in numbers
    assert 'data-can-write="false"' in numbers
    assert browser.get("/console/history").status_code == 403


def test_a_write_key_gets_the_edit_controls_but_no_history(browser: TestClient) -> None:
    sign_in(browser, OPERATOR_KEY)
    provider = Page(browser.get("/console/provider").text)
    assert {"Save", "Replace"} <= set(provider.buttons)
    numbers = Page(browser.get("/console/numbers").text)
    assert {"Create", "Save", "Yes, delete"} <= set(numbers.buttons)  # Edit, Delete, Copy: in the rows the script adds
    assert "/console/history" not in numbers.links


def test_an_audit_only_key_lands_on_the_history(browser: TestClient) -> None:
    sign_in(browser, AUDITOR_KEY)
    response = browser.get("/console", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/history"
    page = Page(browser.get("/console/history").text)
    assert {"phone_number", "aggregate_id", "actor", "since", "until", "as_of"} <= {
        str(c.get("name")) for c in page.controls
    }
    assert "/console/numbers" not in page.links


def test_the_provider_form_has_every_field_of_the_api_under_its_name(browser: TestClient) -> None:
    sign_in(browser)
    page = Page(browser.get("/console/provider").text)
    names = {str(control.get("name")) for control in page.controls}
    assert names == set(ProviderSettingsUpdate.__struct_fields__)
    assert page.error_slots >= names
    secrets = {c.get("name") for c in page.controls if "data-secret" in c}
    assert secrets == {"twilio_auth_token", "exotel_api_key", "exotel_api_token", "vobiz_auth_token"}
    assert [group.title for group in provider_groups()] == ["General", "Twilio", "Exotel", "Vobiz"]


def test_the_numbers_page_offers_the_api_field_names(browser: TestClient) -> None:
    sign_in(browser)
    page = Page(browser.get("/console/numbers").text)
    names = {str(control.get("name")) for control in page.controls}
    create = {"phone_number", "provider", "inbound_agent_name", "outbound_agent_name", "label", "is_active"}
    assert create | {"agent", "page_size"} <= names
    assert create <= page.error_slots


def test_session_data_is_escaped_in_pages() -> None:
    """A key's name is restricted to ``[A-Za-z0-9._-]``, but the templates escape whatever they are given."""
    from service.console.pages import render
    from service.http.sessions import Session

    session = Session("id", "<img src=x onerror=alert(1)>", frozenset({"read"}), 0, '"><script>x</script>')
    html = render("provider.html.j2", session=session, page="provider", title="t", groups=provider_groups()).content
    assert "<img src=x" not in html
    assert "<script>x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
