"""How to reach NATS: several servers, credentials, TLS. Shared by the service's link and a router's ``RouteWatcher``.

It lives here, not in ``service``, because a call router installs ``events`` and ``projections`` only and must reach
a secured cluster with the same options as the service. Two concerns are kept in one place so they cannot drift:

* what nats-py needs (``connect_options``): the server list (``TELEPHONY_NATS_URL`` may name several, comma-separated),
  ``user_credentials`` (a ``.creds`` file: JWT + nkey seed) and an ``ssl.SSLContext`` built from a CA file and an
  optional client certificate; a user/password or a token stay in the URL, where nats-py reads them;
* what may be shown (``redact``): a URL with its password or token replaced by ``***``, for logs, errors and
  ``/health/ready``; and ``describe_error``, a one-line reason for a failed connection (authorization violation,
  certificate verify failed, refused) that never repeats a secret.
"""

from __future__ import annotations

import importlib.util
import re
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"


def split_servers(url: str) -> list[str]:
    """``nats://a:4222, nats://b:4222`` -> ``["nats://a:4222", "nats://b:4222"]`` (blanks dropped)."""
    return [part.strip() for part in url.split(",") if part.strip()]


def redact(servers: str | Iterable[str]) -> str:
    """The server URL(s) as they may be shown: any password or token replaced by ``***``; several joined by ``,``."""
    urls = split_servers(servers) if isinstance(servers, str) else list(servers)
    return ",".join(_redact_one(url) for url in urls)


def _redact_one(url: str) -> str:
    try:
        parts = urlsplit(url if "://" in url else f"nats://{url}")
    except ValueError:
        return REDACTED  # not even a URL: it could be anything, a secret included
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    # ``user:password@`` keeps the user; a lone ``token@`` is a secret itself.
    shown = f"{user}:{REDACTED}" if colon else REDACTED
    return urlunsplit(parts._replace(netloc=f"{shown}@{hostport}"))


def secrets_of(servers: str | Iterable[str]) -> set[str]:
    """The passwords and tokens the URL(s) carry: what ``describe_error`` must never repeat."""
    urls = split_servers(servers) if isinstance(servers, str) else list(servers)
    found: set[str] = set()
    for url in urls:
        try:
            parts = urlsplit(url if "://" in url else f"nats://{url}")
        except ValueError:
            continue
        if "@" in parts.netloc:
            userinfo = parts.netloc.rpartition("@")[0]
            user, colon, password = userinfo.partition(":")
            found.add(password if colon else user)
    return {secret for secret in found if secret}


def describe_error(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """One line that says why a connection failed, without any of ``secrets``."""
    text = str(exc).strip() or type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, ssl.SSLCertVerificationError) or "certificate verify failed" in lowered:
        reason = f"TLS: certificate verify failed ({getattr(exc, 'verify_message', None) or text})"
    elif "authorization violation" in lowered or "authentication" in lowered:
        reason = "authorization violation (wrong user, password, token or credentials)"
    elif isinstance(exc, ssl.SSLError):
        reason = f"TLS: {text}"
    elif isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError":
        reason = "timed out"
    elif isinstance(exc, ConnectionRefusedError) or "connect call failed" in lowered:
        reason = f"connection refused ({text})"
    else:
        reason = f"{type(exc).__name__}: {text}"
    for secret in secrets:
        reason = reason.replace(secret, REDACTED)
    return re.sub(r"\s+", " ", reason)


_ECHOES = (BrokenPipeError, ConnectionResetError, EOFError)
"""What the client sees after the server has closed the connection because of an error it reported first (an
authorization violation, a failed TLS handshake): the earlier reason is the one that tells."""


def telling_reason(previous: str | None, exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The reason to keep after ``exc``: its own, unless it is only the echo of a closed connection and a more
    telling reason (authorization, TLS) is already known."""
    echo = isinstance(exc, _ECHOES) or type(exc).__name__ in ("UnexpectedEOF", "StaleConnectionError")
    if echo and previous and previous.startswith(("authorization violation", "TLS")):
        return previous
    return describe_error(exc, secrets)


@dataclass(frozen=True)
class NatsConnection:
    """Where NATS is and how to prove who we are. ``servers``: one URL or several (a cluster)."""

    servers: tuple[str, ...]
    creds: Path | None = None
    """A credentials file (JWT and nkey seed), for servers run in operator mode."""
    ca: Path | None = None
    """A CA file to verify the servers' certificates (TLS); the system's CAs when unset and the URL says tls://."""
    cert: Path | None = None
    key: Path | None = None
    """A client certificate and its key, for servers that verify clients (``verify: true``)."""

    @classmethod
    def of(
        cls,
        servers: str | Iterable[str],
        *,
        creds: str | Path | None = None,
        ca: str | Path | None = None,
        cert: str | Path | None = None,
        key: str | Path | None = None,
    ) -> NatsConnection:
        urls = tuple(split_servers(servers) if isinstance(servers, str) else servers)
        if not urls:
            raise ValueError("no NATS server given")
        if (cert is None) != (key is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")
        for name, path in (("credentials", creds), ("CA", ca), ("certificate", cert), ("key", key)):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"the NATS {name} file {path} does not exist")
        if creds is not None and importlib.util.find_spec("nkeys") is None:
            # nats-py signs with the credentials' nkey through the optional ``nkeys`` package: say so now, not at
            # every connection attempt.
            raise ValueError("a credentials file needs the nkeys package: pip install 'nats-py[nkeys]'")
        return cls(
            servers=urls,
            creds=Path(creds) if creds else None,
            ca=Path(ca) if ca else None,
            cert=Path(cert) if cert else None,
            key=Path(key) if key else None,
        )

    @property
    def shown(self) -> str:
        """The servers as they may be shown (logs, errors, health)."""
        return redact(self.servers)

    @property
    def secrets(self) -> set[str]:
        return secrets_of(self.servers)

    def tls_context(self) -> ssl.SSLContext | None:
        """A context that trusts ``ca`` (else the system's CAs) and presents ``cert``/``key``; ``None`` when no TLS
        option is set (nats-py then makes its own for ``tls://`` URLs or servers that require TLS)."""
        if self.ca is None and self.cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca) if self.ca else None)
        if self.cert is not None and self.key is not None:
            context.load_cert_chain(str(self.cert), str(self.key))
        return context

    def connect_options(self) -> dict[str, object]:
        """Keyword arguments for ``nats.connect`` (besides callbacks and timeouts)."""
        options: dict[str, object] = {"servers": list(self.servers)}
        tls = self.tls_context()
        if tls is not None:
            options["tls"] = tls
        if self.creds is not None:
            options["user_credentials"] = str(self.creds)
        return options
