"""API keys with scopes.

Keys come from ``TELEPHONY_API_KEYS`` (``name:key:scopes`` entries separated by commas; scopes joined by ``+`` from
``read``, ``write``, ``audit``, ``secrets``, or ``*`` for all; a key may be given as ``sha256:<hex>`` instead of in
clear). Without that variable, the first start generates an admin key, shows it once, and keeps only its hash in
``<data dir>/api-keys`` (same format) for later starts. Only SHA-256 digests are held in memory; a presented key is
compared with every digest in constant time.

Every ``/api/...`` route needs a key: GET routes need ``read``, PUT/POST/DELETE need ``write``; a route may ask for
another scope through ``opt={"scope": ...}`` (``audit``, ``secrets``); a GET with ``as_of`` or ``at_position`` (a past
state) needs ``audit``. The key's name is the actor events record.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("telephony_settings.auth")

SCOPES = ("read", "write", "audit", "secrets")
ALL = "*"
KEY_FILE = "api-keys"
MIN_KEY_LENGTH = 16
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="telephony-settings"'}
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")
POINT_IN_TIME_PARAMETERS = ("as_of", "at_position")


class KeyConfigurationError(ValueError):
    """An API key entry cannot be used; the message never contains the key."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return ALL in self.scopes or scope in self.scopes


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return "tsk_" + secrets.token_urlsafe(32)


def entry(name: str, key: str, scopes: str) -> str:
    """The ``TELEPHONY_API_KEYS`` entry for a key, with the key stored hashed."""
    return f"{name}:sha256:{digest(key).hex()}:{scopes}"


def parse_keys(text: str) -> list[ApiKey]:
    keys = [_parse_entry(item.strip(), position) for position, item in enumerate(text.split(","), 1) if item.strip()]
    names = [key.name for key in keys]
    if len(set(names)) != len(names):
        raise KeyConfigurationError("API key names must be unique")
    return keys


def _parse_entry(item: str, position: int) -> ApiKey:
    where = f"API key entry {position}"
    parts = item.split(":")
    # name:key:scopes, where the key may itself be "sha256:<hex>". Anything else may be a bare key pasted in by
    # mistake, so nothing of it is quoted back until the entry has its three parts.
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[1] != "sha256"):
        raise KeyConfigurationError(f"{where}: expected name:key:scopes (or name:sha256:<hex>:scopes)")
    name, secret, scopes_text = parts[0], ":".join(parts[1:-1]), parts[-1]
    if not _NAME.match(name):
        raise KeyConfigurationError(f"{where}: the name must be 1-64 letters, digits, '.', '_' or '-'")
    scopes = frozenset(scopes_text.split("+")) if scopes_text else frozenset()
    if not scopes or not scopes <= {*SCOPES, ALL}:
        raise KeyConfigurationError(f"{where}: scopes must be joined by '+' from {', '.join(SCOPES)} or '*'")
    if secret.startswith("sha256:"):
        hexdigest = secret[len("sha256:") :]
        if not _HEX_DIGEST.match(hexdigest):
            raise KeyConfigurationError(f"{where} ({name}): sha256: must be followed by 64 hex digits")
        return ApiKey(name, bytes.fromhex(hexdigest), scopes)
    if len(secret) < MIN_KEY_LENGTH:
        raise KeyConfigurationError(f"{where} ({name}): a key must be at least {MIN_KEY_LENGTH} characters")
    return ApiKey(name, digest(secret), scopes)


class KeyRing:
    def __init__(self, keys: list[ApiKey]) -> None:
        self.keys = keys

    def authenticate(self, presented: str) -> ApiKey | None:
        """The key whose digest matches; every digest is compared, in constant time, whatever matches."""
        presented_digest = digest(presented)
        found = None
        for key in self.keys:
            if hmac.compare_digest(key.digest, presented_digest):
                found = key
        return found


def load_key_ring(configured: str | None, data_dir: Path) -> tuple[KeyRing, str | None]:
    """The configured keys; else those kept in the data dir; else a new admin key (returned once, in clear)."""
    path = data_dir / KEY_FILE
    if configured:
        if path.exists():
            # Otherwise the admin key printed at first start just stops working, and nothing says why.
            log.warning(
                "TELEPHONY_API_KEYS is set, so the keys in %s (e.g. the admin key shown at first start) are ignored "
                "and get 401; add them to TELEPHONY_API_KEYS to keep them",
                path,
            )
        return KeyRing(parse_keys(configured)), None
    if path.exists():
        return KeyRing(parse_keys(path.read_text().replace("\n", ","))), None
    key = new_key()
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(entry("admin", key, ALL) + "\n")
    return KeyRing(parse_keys(entry("admin", key, ALL))), key


def required_scope(connection: ASGIConnection, handler: BaseRouteHandler) -> str | None:
    if not connection.scope["path"].startswith("/api/"):
        return None  # health, docs and metrics are open
    if connection.scope.get("method") == "OPTIONS":
        return None  # which methods a path has is no secret, and a CORS preflight never carries a key
    explicit = handler.opt.get("scope")
    if explicit:
        return str(explicit)
    if connection.scope.get("method", "GET") not in ("GET", "HEAD"):
        return "write"
    if any(name in connection.query_params for name in POINT_IN_TIME_PARAMETERS):
        return "audit"  # a past state of the settings is part of the audit trail
    return "read"


async def authorize(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Run by ``guarded`` for every routed request: 401 without a known key, 403 without the route's scope;
    records the key's name as actor.

    Async because it does no I/O: a sync guard would cost every request a hop to a worker thread."""
    needed = required_scope(connection, handler)
    if needed is None:
        return
    header = connection.headers.get("authorization", "")
    if not header and SESSION_COOKIE in connection.cookies:
        _authorize_session(connection, needed)
        return
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(detail="an API key is required: Authorization: Bearer <key>", headers=CHALLENGE)
    key_ring: KeyRing = connection.app.state["key_ring"]
    key = key_ring.authenticate(token.strip())
    if key is None:
        raise NotAuthorizedException(
            detail="unknown API key",
            headers={"WWW-Authenticate": 'Bearer realm="telephony-settings", error="invalid_token"'},
        )
    if not key.allows(needed):
        raise PermissionDeniedException(detail=f"this API key lacks the '{needed}' scope")
    connection.scope.setdefault("state", {})["actor"] = key.name


SESSION_COOKIE = "ts_session"
CSRF_HEADER = "x-csrf-token"


def _authorize_session(connection: ASGIConnection, needed: str) -> None:
    """A console session (``service.http.sessions``) in place of a key: the same scopes, and for a change the
    session's CSRF token in ``X-CSRF-Token``."""
    sessions = connection.app.state["sessions"]
    session = sessions.check(connection.cookies.get(SESSION_COOKIE))
    if session is None:
        raise NotAuthorizedException(
            detail="the console session has ended: sign in again (or send Authorization: Bearer <key>)",
            headers=CHALLENGE,
        )
    if connection.scope.get("method", "GET") not in ("GET", "HEAD") and not sessions.csrf_ok(
        session, connection.headers.get(CSRF_HEADER)
    ):
        raise PermissionDeniedException(detail="a change through a console session needs its X-CSRF-Token")
    if not session.allows(needed):
        raise PermissionDeniedException(detail=f"this API key lacks the '{needed}' scope")
    connection.scope.setdefault("state", {})["actor"] = session.name


def guarded(app: ASGIApp) -> ASGIApp:
    """Litestar middleware (it runs once the route is matched, with its handler in the scope): ``authorize``, then
    the strict query rules (``service.http.strict``), then the route.

    Instead of Litestar guards, which copy the route handler for every guard of every request (``copy(self)`` in
    ``authorize_connection``): a tenth of a GET's time here. Errors raised here are answered by the same exception
    handlers as the route's own."""
    from service.http.strict import strict_query

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            connection: Request = Request(scope)
            handler = scope["route_handler"]
            await authorize(connection, handler)
            await strict_query(connection, handler)
        await app(scope, receive, send)

    return middleware
