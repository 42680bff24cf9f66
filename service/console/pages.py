"""The console's pages: sign in, sign out, and the shells of the Provider, Numbers and History pages.

Why it is built this way:

* **The pages hold no data.** Each page is rendered from a template with the session's name, scopes and CSRF token;
  ``static/console.js`` then reads and writes everything through the REST API with the session cookie. So the API's
  validation, ``If-Match`` preconditions, scopes and audit records apply to the console unchanged, and a person in
  the console sees exactly the errors a program would (``service.http.auth`` accepts the cookie).
* **What a key may not do, its pages do not offer.** The templates leave out edit controls without ``write`` and the
  History page without ``audit``; the API still checks every request, so a hand-made request gains nothing.
* **Sessions, not keys, in the browser.** ``POST /console/sign-in`` trades a key for the session cookie of
  ``service.http.sessions`` (HttpOnly, SameSite=Strict, Secure behind https); the key is never stored or echoed. The
  sign-in form carries no CSRF token (there is no session yet), so it refuses a cross-origin ``Origin``/``Referer``
  (login CSRF: another site signing a victim in under the attacker's key). Sign-out is a form POST with the
  session's CSRF token.
* **A strict Content-Security-Policy** on every console response (``secured``): scripts and styles only from
  ``/console/static``, no inline code, no framing. Templates autoescape; the script writes data with
  ``textContent`` only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from litestar import MediaType, Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader, Cookie
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_303_SEE_OTHER,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
)
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from events import PROVIDERS
from service.audit.history import EVENT_TYPES
from service.http.schemas import ProviderSettingsUpdate
from service.http.sessions import COOKIE, SESSION_HOURS, Session, Sessions, secure_request

log = logging.getLogger("telephony_settings.console")

CONSOLE = "/console"
SIGN_IN = f"{CONSOLE}/sign-in"
SIGN_OUT = f"{CONSOLE}/sign-out"
STATIC = f"{CONSOLE}/static"
HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}
NO_STORE = "no-store"
MAX_KEY_LENGTH = 1024  # far beyond any key (``tsk_`` + 43); a longer "key" is refused before it is hashed

PAGES = {"provider": f"{CONSOLE}/provider", "numbers": f"{CONSOLE}/numbers", "history": f"{CONSOLE}/history"}
_RETURN_PATHS = {CONSOLE, *PAGES.values()}
"""Where a sign-in may send the browser back to (``next``): only the console's own pages, never an open redirect."""


# -- the provider form: every field of the telephony settings, grouped by provider --------------------------------


@dataclass(frozen=True)
class Field:
    name: str  # the API's field name: the input's ``name`` and its errors' ``data-error-for``
    label: str
    kind: str  # text, url, tel, number, secret, select
    hint: str = ""


@dataclass(frozen=True)
class Group:
    key: str
    title: str
    fields: tuple[Field, ...]


_LABELS = {
    "provider": ("Active provider", "select", "Calls are placed through this provider; it needs its credentials."),
    "public_base_url": ("Public base URL", "url", "https URL of a public host that the providers call back."),
    "account_sid": ("account SID", "text", ""),
    "auth_token": ("auth token", "secret", ""),
    "auth_id": ("auth ID", "text", ""),
    "api_key": ("API key", "secret", ""),
    "api_token": ("API token", "secret", ""),
    "phone_number": ("phone number", "tel", "International format: + and the country code."),
    "api_base": ("API base URL", "url", ""),
    "max_concurrent": ("max concurrent calls", "number", "1 to 1000."),
}


def _field(name: str) -> Field:
    provider, _, rest = name.partition("_")
    if provider in PROVIDERS:
        label, kind, hint = _LABELS[rest]
        return Field(name, f"{provider.capitalize()} {label}", kind, hint)
    label, kind, hint = _LABELS[name]
    return Field(name, label, kind, hint)


@cache
def provider_groups() -> tuple[Group, ...]:
    """The fields of ``PUT /api/settings/telephony`` (all of them: the form is derived from the API's schema)."""
    names = ProviderSettingsUpdate.__struct_fields__
    general = Group("general", "General", tuple(_field(n) for n in names if n.partition("_")[0] not in PROVIDERS))
    per_provider = tuple(
        Group(p, p.capitalize(), tuple(_field(n) for n in names if n.startswith(f"{p}_"))) for p in PROVIDERS
    )
    return (general, *per_provider)


# -- rendering ------------------------------------------------------------------------------------------------------


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every template, whatever its file name: user data is text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def asset(name: str) -> str:
    """The URL of a static asset, versioned by its content: browsers may cache it, and see a new one at once."""
    version = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"{STATIC}/{name}?v={version}"


def scopes_label(scopes: frozenset[str]) -> str:
    return "all scopes" if "*" in scopes else ", ".join(sorted(scopes))


def render(template: str, status_code: int = HTTP_200_OK, session: Session | None = None, **context: Any) -> Response:
    can: Callable[[str], bool] = session.allows if session is not None else (lambda _scope: False)
    html = (
        _templates()
        .get_template(template)
        .render(
            session=session,
            scopes=scopes_label(session.scopes) if session else "",
            can_read=can("read"),
            can_write=can("write"),
            can_audit=can("audit"),
            asset=asset,
            pages=PAGES,
            sign_out=SIGN_OUT,
            sign_in=SIGN_IN,
            **context,
        )
    )
    return Response(html, status_code=status_code, media_type=MediaType.HTML, headers={"Cache-Control": NO_STORE})


# -- sessions -------------------------------------------------------------------------------------------------------


def _sessions(request: Request) -> Sessions:
    return request.app.state["sessions"]


def current_session(request: Request) -> Session | None:
    """The request's console session, if its cookie is valid; its key's name becomes the access log's actor."""
    session = _sessions(request).check(request.cookies.get(COOKIE))
    if session is not None:
        request.scope.setdefault("state", {})["actor"] = session.name
    return session


def _secure(request: Request) -> bool:
    return secure_request(dict(request.headers), request.scope["scheme"])


def _session_cookie(request: Request, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def _redirect(path: str, request: Request, *, clear_cookie: bool = False) -> Redirect:
    response = Redirect(path=path, status_code=HTTP_303_SEE_OTHER, headers={"Cache-Control": NO_STORE})
    if clear_cookie:
        response.set_cookie(_session_cookie(request, "", 0))
    return response


def _to_sign_in(request: Request) -> Redirect:
    """303 to the sign-in page, which sends the browser back here afterwards; a stale cookie is expired."""
    path = request.url.path.rstrip("/") or CONSOLE
    target = SIGN_IN if path == CONSOLE else f"{SIGN_IN}?next={path}"
    return _redirect(target, request, clear_cookie=COOKIE in request.cookies)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: one of the console's pages, else the console's first page."""
    return value if value in _RETURN_PATHS else CONSOLE


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def same_origin(request: Request) -> bool:
    """Whether a form POST came from this service's own pages, judged by ``Origin`` (else ``Referer``); a request
    with neither (an old browser, a privacy setting, curl) passes: without a session cookie to ride on, a request a
    page cannot make a browser send is no CSRF.

    This origin is the scheme the browser used (``X-Forwarded-Proto`` behind a proxy) and the ``Host`` it sent, or
    the ``X-Forwarded-Host`` a proxy set: a cross-site form cannot set either header, so trusting them here is safe.
    """
    claimed = request.headers.get("origin")
    if claimed is None:
        referer = request.headers.get("referer")
        if referer is None:
            return True
        claimed = _origin_of(referer) or ""
    scheme = "https" if _secure(request) else request.scope["scheme"]
    hosts = {request.headers.get("host"), request.headers.get("x-forwarded-host", "").split(",")[0].strip()}
    return claimed.lower() in {f"{scheme}://{host.lower()}" for host in hosts if host}


# -- the routes -----------------------------------------------------------------------------------------------------


@get("/sign-in", name="console.sign_in")
async def sign_in_page(request: Request) -> Response:
    return render(
        "sign_in.html.j2", page="sign-in", title="Sign in", next=safe_next(request.query_params.get("next")), error=None
    )


@post("/sign-in", name="console.sign_in.submit", status_code=HTTP_303_SEE_OTHER)
async def sign_in(request: Request) -> Response:
    form = await request.form()
    target = safe_next(_text(form.get("next")))
    if not same_origin(request):
        log.warning("console sign-in refused: cross-origin form")
        return render(
            "sign_in.html.j2",
            HTTP_403_FORBIDDEN,
            page="sign-in",
            title="Sign in",
            next=target,
            error="This sign-in form was not sent from this service's own page. Open the console here and sign in.",
        )
    presented = _text(form.get("api_key")).strip()
    signed = _sessions(request).sign_in(presented) if 0 < len(presented) <= MAX_KEY_LENGTH else None
    if signed is None:
        log.info("console sign-in refused: unknown API key")
        return render(
            "sign_in.html.j2",
            HTTP_401_UNAUTHORIZED,
            page="sign-in",
            title="Sign in",
            next=target,
            error="Enter an API key." if not presented else "That API key is not valid. Check it and try again.",
        )
    session, cookie = signed
    request.scope.setdefault("state", {})["actor"] = session.name
    log.info("console sign-in", extra={"actor": session.name})
    response = _redirect(target, request)
    response.set_cookie(_session_cookie(request, cookie, SESSION_HOURS * 3600))
    return response


@post("/sign-out", name="console.sign_out", status_code=HTTP_303_SEE_OTHER)
async def sign_out(request: Request) -> Response:
    form = await request.form()
    session = current_session(request)
    if session is not None:
        if not _sessions(request).csrf_ok(session, _text(form.get("csrf_token")) or None):
            return render(
                "error.html.j2",
                HTTP_403_FORBIDDEN,
                session=session,
                title="Not signed out",
                page="error",
                message="This sign-out was not sent from your console page. Use the Sign out button of the console.",
            )
        _sessions(request).end(session)
        log.info("console sign-out", extra={"actor": session.name})
    return _redirect(SIGN_IN, request, clear_cookie=True)


@get(["/", "/provider"], name="console.provider")
async def provider_page(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return _to_sign_in(request)
    if not session.allows("read") and session.allows("audit"):
        return _redirect(PAGES["history"], request)  # all such a key may see is the history
    return render("provider.html.j2", session=session, page="provider", title="Provider", groups=provider_groups())


@get("/numbers", name="console.numbers")
async def numbers_page(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return _to_sign_in(request)
    return render("numbers.html.j2", session=session, page="numbers", title="Numbers", providers=PROVIDERS)


@get("/history", name="console.history")
async def history_page(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return _to_sign_in(request)
    return render(
        "history.html.j2",
        HTTP_200_OK if session.allows("audit") else HTTP_403_FORBIDDEN,
        session=session,
        page="history",
        title="History",
        event_types=EVENT_TYPES,
    )


def _text(value: object) -> str:
    """A form field as text (a file upload in its place counts as nothing)."""
    return value if isinstance(value, str) else ""


# -- the security headers --------------------------------------------------------------------------------------------


def secured(app: ASGIApp) -> ASGIApp:
    """Middleware of the console's routes: the security headers on every response (pages, redirects, assets and
    errors alike), and ``Cache-Control: no-store`` on whatever did not choose its own caching."""
    security = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(n, v) for n, v in message.get("headers", []) if n.lower() not in dict(security)]
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", NO_STORE.encode()))
                message["headers"] = [*headers, *security]
            await send(message)

        await app(scope, receive, send_secured)

    return middleware


def console_routes() -> list[Router]:
    """The console's routes, to register with the app: the pages under ``/console`` and the assets under
    ``/console/static`` (served from this package: the console needs no internet)."""
    pages = Router(
        path=CONSOLE,
        route_handlers=[sign_in_page, sign_in, sign_out, provider_page, numbers_page, history_page],
        middleware=[secured],
        include_in_schema=False,
    )
    assets = create_static_files_router(
        path=STATIC,
        directories=[STATIC_DIR],
        name="console.static",
        include_in_schema=False,
        middleware=[secured],
        cache_control=CacheControlHeader(max_age=86400),  # the pages name them with a content version (``asset``)
    )
    return [pages, assets]
