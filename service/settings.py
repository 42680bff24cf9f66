"""Configuration, read once from the environment. The only module that reads ``os.environ``."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from projections.nats_connect import NatsConnection

KNOWN_VARIABLES = (
    "TELEPHONY_DATABASE_URL",
    "TELEPHONY_NATS_URL",
    "TELEPHONY_NATS_REPLICAS",
    "TELEPHONY_NATS_CREDS",
    "TELEPHONY_NATS_CA",
    "TELEPHONY_NATS_CERT",
    "TELEPHONY_NATS_KEY",
    "TELEPHONY_DATA_DIR",
    "TELEPHONY_API_KEYS",
    "TELEPHONY_CIPHER_KEY",
    "TELEPHONY_LOG_LEVEL",
    "TELEPHONY_LOG_FORMAT",
    "TELEPHONY_POLL_INTERVAL",
    "TELEPHONY_HEADER_TIMEOUT",
    "TELEPHONY_BODY_TIMEOUT",
)


# The store's infrastructure, by eventsourcing's own settings (service.write.store says what each adds).
SQLITE_STORE = "service.write.store:SQLiteStore"
POSTGRES_STORE = "service.write.store:PostgresStore"
STORED_FORMAT = {
    "MAPPER_TOPIC": "service.write.chain:ChainMapper",
    "TRANSCODER_TOPIC": "service.write.transcoder:MsgspecJSONTranscoder",
}


class ConfigurationError(Exception):
    """The environment does not describe a usable configuration."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str | None = None
    """``sqlite:///path`` or ``postgresql://user:pass@host:port/db``; ``None``: SQLite in the data dir."""
    nats_url: str | None = None
    """``nats://host:port`` (several comma-separated for a cluster); ``None``: an embedded nats-server in the data
    dir; ``"off"``: publish nothing (tools, tests of the HTTP API alone). A user and password (``nats://u:p@host``)
    or a token (``nats://token@host``) may be in it: it is only ever shown redacted."""
    nats_replicas: int = 1
    """Replicas of the stream and the KV bucket when the service creates them (1..5; 3 on a three-node cluster).
    An existing stream or bucket is never recreated: a different count is reported at start."""
    nats_creds: Path | None = None
    """A NATS credentials file (JWT and nkey seed)."""
    nats_ca: Path | None = None
    """A CA file that verifies the NATS servers' TLS certificates."""
    nats_cert: Path | None = None
    nats_key: Path | None = None
    """A client certificate and its key, for NATS servers that verify clients."""
    api_keys: str | None = None
    cipher_key: str | None = None
    session_secret: str | None = None
    """Signs the console's session cookies (``service.http.sessions``); ``None``: a random one in the data dir."""
    log_level: str = "INFO"
    log_format: str = "auto"
    """``json``, ``console`` or ``auto`` (console in a terminal, JSON otherwise)."""
    poll_interval: float = 1.0
    """Seconds between polls of the store for changes written by other processes."""
    header_timeout: float = 10.0
    """Seconds a request may take to send its headers (from its connection, or its first byte on a kept-alive one);
    then 408 and the connection is closed. Slow-header clients cannot hold connections open."""
    body_timeout: float = 30.0
    """Seconds a request may take to send its body, from its first read; then 408 and the connection is closed."""
    stream_heartbeat: float = 15.0
    """Seconds of silence on the live stream (``GET /api/settings/stream``) before a keep-alive comment line."""
    snapshot_every: int = 50_000
    """Events folded after which a read-model snapshot is written in the background (``service.read.snapshots``);
    ``0``: only at shutdown."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        poll_interval = _seconds(env, "TELEPHONY_POLL_INTERVAL", 1.0)
        header_timeout = _seconds(env, "TELEPHONY_HEADER_TIMEOUT", 10.0)
        body_timeout = _seconds(env, "TELEPHONY_BODY_TIMEOUT", 30.0)
        stream_heartbeat = _seconds(env, "TELEPHONY_STREAM_HEARTBEAT", 15.0)
        log_level = (env.get("TELEPHONY_LOG_LEVEL") or "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigurationError("TELEPHONY_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        log_format = (env.get("TELEPHONY_LOG_FORMAT") or "auto").lower()
        if log_format not in ("json", "console", "auto"):
            raise ConfigurationError("TELEPHONY_LOG_FORMAT must be json, console or auto")
        nats_files = {name: _existing_file(env, f"TELEPHONY_NATS_{name.upper()}") for name in NATS_FILES}
        if (nats_files["cert"] is None) != (nats_files["key"] is None):
            raise ConfigurationError("TELEPHONY_NATS_CERT and TELEPHONY_NATS_KEY go together: set both or neither")
        settings = cls(
            data_dir=Path(env.get("TELEPHONY_DATA_DIR") or "data"),
            database_url=env.get("TELEPHONY_DATABASE_URL") or None,
            nats_url=env.get("TELEPHONY_NATS_URL") or None,
            nats_replicas=_replicas(env),
            nats_creds=nats_files["creds"],
            nats_ca=nats_files["ca"],
            nats_cert=nats_files["cert"],
            nats_key=nats_files["key"],
            api_keys=env.get("TELEPHONY_API_KEYS") or None,
            cipher_key=env.get("TELEPHONY_CIPHER_KEY") or None,
            session_secret=env.get("TELEPHONY_SESSION_SECRET") or None,
            log_level=log_level,
            log_format=log_format,
            poll_interval=poll_interval,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            stream_heartbeat=stream_heartbeat,
            snapshot_every=_count(env, "TELEPHONY_SNAPSHOT_EVERY", 50_000),
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]

    @property
    def nats_mode(self) -> str:
        if self.nats_url is None:
            return "embedded"
        return "off" if self.nats_url.strip().lower() in ("off", "none", "disabled") else "external"

    def nats_connection(self, url: str | None = None) -> NatsConnection:
        """How to reach NATS: ``url`` (the embedded server's) or ``TELEPHONY_NATS_URL``, with the credentials and TLS
        files; shared by ``serve`` (``NatsLink``) and ``watch`` (``RouteWatcher``)."""
        servers = url or self.nats_url
        if not servers or (self.nats_mode == "off" and url is None):
            raise ConfigurationError("NATS is off: no TELEPHONY_NATS_URL to connect to")
        try:
            return NatsConnection.of(
                servers, creds=self.nats_creds, ca=self.nats_ca, cert=self.nats_cert, key=self.nats_key
            )
        except ValueError as exc:
            raise ConfigurationError(f"TELEPHONY_NATS_*: {exc}") from None

    @property
    def nats_files(self) -> dict[str, Path | None]:
        """The credentials and TLS files, as ``RouteWatcher`` takes them (``creds=, ca=, cert=, key=``)."""
        return {"creds": self.nats_creds, "ca": self.nats_ca, "cert": self.nats_cert, "key": self.nats_key}

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'events.db'}"

    def store_env(self) -> dict[str, str]:
        """The eventsourcing environment for the configured database."""
        url = self.effective_database_url
        try:
            parts = urlsplit(url)
            port = parts.port if parts.scheme.startswith("postgres") else None
        except ValueError:
            raise ConfigurationError("TELEPHONY_DATABASE_URL is not a valid URL (check host and port)") from None
        if parts.scheme == "sqlite":
            path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
            if not path:
                raise ConfigurationError("TELEPHONY_DATABASE_URL: use sqlite:///relative/path or sqlite:////abs/path")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            env = {"PERSISTENCE_MODULE": SQLITE_STORE, "SQLITE_DBNAME": path, "SQLITE_LOCK_TIMEOUT": "10"}
        elif parts.scheme in ("postgresql", "postgres"):
            dbname = parts.path.lstrip("/")
            if not dbname:
                raise ConfigurationError("TELEPHONY_DATABASE_URL: a postgresql:// URL must name the database")
            env = {
                "PERSISTENCE_MODULE": POSTGRES_STORE,
                "POSTGRES_DBNAME": unquote(dbname),
                "POSTGRES_HOST": parts.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(port or 5432),
                "POSTGRES_USER": unquote(parts.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parts.password or ""),
                # Never wait forever for the table lock every insert takes, nor for a dead server.
                "POSTGRES_LOCK_TIMEOUT": "5",
                # Also the pool's wait for a free connection: with the database away, answer 503 quickly.
                "POSTGRES_CONNECT_TIMEOUT": "1",
                "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
                # Connections are checked only after a second unused (``write.store``), not before every use; the
                # writer saves again on another connection when one was dead; connections are renewed every 5 min.
                "POSTGRES_PRE_PING": "n",
                "POSTGRES_CONN_MAX_AGE": "300",
                # Sized for the worker threads that run commands (anyio's default limiter: 40).
                "POSTGRES_POOL_SIZE": "10",
                "POSTGRES_MAX_OVERFLOW": "30",
                **_libpq_options(parts.query),
            }
        else:
            raise ConfigurationError("TELEPHONY_DATABASE_URL must start with sqlite:/// or postgresql://")
        env.update(STORED_FORMAT)
        if self.cipher_key:
            _check_cipher_key(self.cipher_key)
            env["CIPHER_TOPIC"] = "eventsourcing.cipher:AESCipher"
            env["CIPHER_KEY"] = self.cipher_key
        return env


NATS_FILES = ("creds", "ca", "cert", "key")
MAX_REPLICAS = 5  # JetStream's own limit


def _replicas(env: Mapping[str, str]) -> int:
    raw = (env.get("TELEPHONY_NATS_REPLICAS") or "1").strip()
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_REPLICAS:
        raise ConfigurationError(
            f"TELEPHONY_NATS_REPLICAS must be a whole number from 1 to {MAX_REPLICAS} (at most the number of NATS "
            f"servers in the cluster), not {raw!r}"
        )
    return value


def _existing_file(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise ConfigurationError(f"{name}: no such file: {path}")
    return path


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name) or default)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise ConfigurationError(f"{name} must be a positive number of seconds")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or str(default)).strip().replace("_", "")
    if not (raw.isascii() and raw.isdecimal() and len(raw) <= 12):
        raise ConfigurationError(f"{name} must be a whole number (0 or more), not {env.get(name)!r}")
    return int(raw)


def _check_cipher_key(key: str) -> None:
    try:
        size = len(base64.b64decode(key.encode(), validate=True))
    except (ValueError, binascii.Error):
        size = -1
    if size not in (16, 24, 32):
        raise ConfigurationError(
            "TELEPHONY_CIPHER_KEY must be 16, 24 or 32 bytes in base64 (make one with: telephony-settings keys cipher)"
        )


def _libpq_options(query: str) -> dict[str, str]:
    """The ``TELEPHONY_DATABASE_URL`` query parameters that libpq takes as it documents them (``?sslmode=verify-full&
    sslrootcert=/path/ca.pem``, ``write.store.LIBPQ_OPTIONS``), for the store to give every pooled connection."""
    from service.write.store import LIBPQ_OPTIONS

    options = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in LIBPQ_OPTIONS:
            raise ConfigurationError(
                f"TELEPHONY_DATABASE_URL: the parameter {name!r} is not supported; use {', '.join(LIBPQ_OPTIONS)}"
            )
        options[f"POSTGRES_LIBPQ_{name.upper()}"] = value
    return options
