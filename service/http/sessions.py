"""Console sessions: a signed cookie that stands for an API key, and the CSRF token that goes with it.

A person signs in to the console (``/console``) with an API key. The service answers with a cookie, ``ts_session``:
HttpOnly (no script reads it), ``SameSite=Strict`` (no other site's page sends it), ``Secure`` when the request came
over https (directly or through a proxy that says so in ``X-Forwarded-Proto``), and valid for ``SESSION_HOURS``. It
carries the key's name, its scopes, the first bytes of the key's digest and an expiry, signed with HMAC-SHA256 under
the session secret; never the key itself. A session is honoured only while the key it names is still configured with
that digest, so removing or rotating a key ends its sessions.

The cookie is accepted on every ``/api`` route in place of ``Authorization: Bearer`` (``service.http.auth``). A
request that changes something must also carry ``X-CSRF-Token``: a token derived from the session (HMAC of its id),
which the console's pages hold in a ``<meta>`` tag. Another site can make a browser send the cookie only under
``SameSite`` exceptions, and can never read the token; both checks must fail for a forged request to pass.

Signing out forgets the session in this process and expires the cookie. The secret is ``TELEPHONY_SESSION_SECRET`` when
set (replicas that share it accept each other's sessions), else a random one kept in ``<data dir>/session-secret``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from service.http.auth import SESSION_COOKIE, ApiKey, KeyRing

COOKIE = SESSION_COOKIE
SECRET_FILE = "session-secret"  # noqa: S105 (a file name)
SESSION_HOURS = 8
_DIGEST_PREFIX = 8  # bytes of the key's digest the cookie carries: enough to tell a rotated key, useless to guess it


class _Payload(msgspec.Struct, array_like=True):
    id: str
    name: str
    scopes: list[str]
    key: str  # hex prefix of the key's digest
    expires: int  # epoch seconds


@dataclass(frozen=True)
class Session:
    id: str
    name: str
    scopes: frozenset[str]
    expires: int
    csrf_token: str

    def allows(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes


class Sessions:
    """Issues and checks session cookies (see the module docstring). Safe to share between threads."""

    def __init__(self, secret: bytes, key_ring: KeyRing) -> None:
        self._secret = secret
        self._key_ring = key_ring
        self._ended: dict[str, int] = {}  # session id -> expiry: signed out, refused until it would have expired
        self._lock = threading.Lock()

    @classmethod
    def for_data_dir(cls, configured: str | None, data_dir: Path, key_ring: KeyRing) -> Sessions:
        return cls(configured.encode() if configured else _stored_secret(data_dir), key_ring)

    def sign_in(self, presented_key: str) -> tuple[Session, str] | None:
        """The session and its cookie value for a valid API key; ``None`` for an unknown one."""
        key = self._key_ring.authenticate(presented_key)
        if key is None:
            return None
        payload = _Payload(
            id=secrets.token_urlsafe(16),
            name=key.name,
            scopes=sorted(key.scopes),
            key=key.digest[:_DIGEST_PREFIX].hex(),
            expires=int(time.time()) + SESSION_HOURS * 3600,
        )
        body = base64.urlsafe_b64encode(msgspec.msgpack.encode(payload)).decode().rstrip("=")
        return self._session(payload), f"{body}.{self._sign(body)}"

    def check(self, cookie: str | None) -> Session | None:
        """The session a cookie stands for, if it is genuine, unexpired, not ended and its key still configured."""
        if not cookie or "." not in cookie:
            return None
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            payload = msgspec.msgpack.decode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), type=_Payload)
        except (ValueError, msgspec.DecodeError):
            return None
        if payload.expires < time.time() or payload.id in self._ended:
            return None
        key = self._key(payload.name)
        if key is None or key.digest[:_DIGEST_PREFIX].hex() != payload.key:
            return None
        return self._session(payload)

    def end(self, session: Session) -> None:
        now = time.time()
        with self._lock:
            self._ended = {sid: expires for sid, expires in self._ended.items() if expires > now}
            self._ended[session.id] = session.expires

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, session.csrf_token)

    def _session(self, payload: _Payload) -> Session:
        csrf = hmac.new(self._secret, f"csrf:{payload.id}".encode(), hashlib.sha256).hexdigest()
        return Session(payload.id, payload.name, frozenset(payload.scopes), payload.expires, csrf)

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._secret, f"session:{body}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def _key(self, name: str) -> ApiKey | None:
        return next((key for key in self._key_ring.keys if key.name == name), None)


def _stored_secret(data_dir: Path) -> bytes:
    path = data_dir / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret.hex())
    os.replace(temporary, path)
    return secret


def secure_request(scope_or_headers: dict, scheme: str) -> bool:
    """Whether the browser reached the service over https (directly or behind a proxy that says so)."""
    forwarded = scope_or_headers.get("x-forwarded-proto", "")
    return scheme == "https" or forwarded.split(",")[0].strip().lower() == "https"
