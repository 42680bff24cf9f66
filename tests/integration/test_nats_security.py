"""Secured links to NATS (issue 17, part 3): TLS with a CA file and client certificates, a user/password and a token
in the URL, and a credentials file (a user's JWT and nkey seed) against a server in operator mode, each against a
local nats-server configured with them (certificates made here by ``trustme``, JWTs by ``tests.nats_jwt``).

A wrong password or an untrusted certificate is a clear error at start (a log line naming it) and in
``/health/ready`` (NATS state with the reason), not a hang; the password or token never appears in a log line or
the health body; a router (``RouteWatcher``) reaches the same server with the same options.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import nats
import pytest

from events import wire
from projections.nats_connect import NatsConnection, redact
from projections.watch import RouteWatcher
from service.settings import Settings
from tests.clients import api_client
from tests.nats_cluster import ConfiguredNatsServer
from tests.nats_jwt import Operator
from tests.nats_pki import Pki
from tests.nats_support import wait_until

PASSWORD = "pw-Zq8vX3-never-shown"
TOKEN = "tok-Jm4sR7-never-shown"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.make(tmp_path / "pki")


@pytest.fixture
def tls_server(tmp_path: Path, pki: Pki) -> Iterator[ConfiguredNatsServer]:
    with ConfiguredNatsServer(tmp_path / "tls", pki.server_settings("telephony", PASSWORD)) as server:
        yield server


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[ConfiguredNatsServer]:
    with ConfiguredNatsServer(tmp_path / "token", f'authorization {{ token: "{TOKEN}" }}') as server:
        yield server


@dataclass
class OperatorMode:
    server: ConfiguredNatsServer
    creds: Path
    """A user of the server's account: its JWT and nkey seed, as ``nsc generate creds`` writes them."""
    seed: str
    foreign_creds: Path
    """A user of an account that another operator signed: the server must refuse it."""


@pytest.fixture
def operator_mode(tmp_path: Path) -> Iterator[OperatorMode]:
    operator = Operator()
    user = operator.account("TELEPHONY").user("telephony-settings")
    stranger = Operator().account("ELSEWHERE").user("intruder")
    with ConfiguredNatsServer(tmp_path / "operator", operator.server_settings()) as server:
        yield OperatorMode(
            server,
            user.creds_file(tmp_path / "telephony.creds"),
            user.key.seed,
            stranger.creds_file(tmp_path / "intruder.creds"),
        )


def everything_shown(caplog: pytest.LogCaptureFixture, *bodies: object) -> str:
    """Every log line (with tracebacks) and every health body: where a secret must never be."""
    lines = [record.getMessage() for record in caplog.records]
    lines += [logging.Formatter().formatException(record.exc_info) for record in caplog.records if record.exc_info]
    return "\n".join([*lines, caplog.text, *map(str, bodies)])


async def stream_count(connection: NatsConnection) -> int:
    client = await nats.connect(**connection.connect_options(), connect_timeout=3, max_reconnect_attempts=0)
    try:
        return (await client.jetstream().stream_info(wire.STREAM)).state.messages
    finally:
        await client.close()


def test_tls_with_a_client_certificate_and_a_password_publishes_and_never_shows_the_password(
    tmp_path: Path, pki: Pki, tls_server: ConfiguredNatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"nats://telephony:{PASSWORD}@127.0.0.1:{tls_server.port}"
    settings = Settings(
        data_dir=tmp_path / "service", nats_url=url, nats_ca=pki.ca, nats_cert=pki.cert, nats_key=pki.key
    )
    connection = settings.nats_connection()
    caplog.set_level(logging.DEBUG)
    with api_client(replace(settings, poll_interval=0.2)) as client:
        created = client.post(
            "/api/settings/endpoints",
            json={"phone_number": "+15551230001", "provider": "twilio", "inbound_agent_name": "support"},
        )
        assert created.status_code == 201
        wait_until(lambda: asyncio.run(stream_count(connection)) == 1, timeout=20, what="the change published over TLS")
        health = client.get("/health/ready").json()
        assert health["nats"] == "connected"
        assert health["nats_details"]["servers"] == f"nats://telephony:***@127.0.0.1:{tls_server.port}"

        async def route_seen() -> str | None:
            watcher = RouteWatcher(url, ca=pki.ca, cert=pki.cert, key=pki.key)  # the router's same options
            async with watcher:
                route = watcher.table.lookup("+15551230001")
                return route.inbound_agent_name if route else None

        assert asyncio.run(route_seen()) == "support"
    shown = everything_shown(caplog, health)
    assert "connected to NATS at nats://telephony:***@" in shown
    assert PASSWORD not in shown


def test_a_token_in_the_url_works_and_is_never_shown(
    tmp_path: Path, token_server: ConfiguredNatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"nats://{TOKEN}@127.0.0.1:{token_server.port}"
    settings = Settings(data_dir=tmp_path / "service", nats_url=url, poll_interval=0.2)
    caplog.set_level(logging.DEBUG)
    with api_client(settings) as client:
        client.post("/api/settings/endpoints", json={"phone_number": "+15551230002", "provider": "twilio"})
        wait_until(
            lambda: asyncio.run(stream_count(settings.nats_connection())) == 1, timeout=20, what="the change published"
        )
        health = client.get("/health/ready").json()
    assert health["nats_details"]["servers"] == f"nats://***@127.0.0.1:{token_server.port}"
    assert TOKEN not in everything_shown(caplog, health)


def test_a_credentials_file_in_operator_mode_publishes_and_its_seed_is_never_shown(
    tmp_path: Path, operator_mode: OperatorMode, caplog: pytest.LogCaptureFixture
) -> None:
    url = operator_mode.server.url
    settings = Settings(data_dir=tmp_path / "service", nats_url=url, nats_creds=operator_mode.creds, poll_interval=0.2)
    caplog.set_level(logging.DEBUG)
    with api_client(settings) as client:
        created = client.post(
            "/api/settings/endpoints",
            json={"phone_number": "+15551230004", "provider": "twilio", "inbound_agent_name": "sales"},
        )
        assert created.status_code == 201
        wait_until(
            lambda: asyncio.run(stream_count(settings.nats_connection())) == 1,
            timeout=20,
            what="the change published with the credentials file",
        )
        health = client.get("/health/ready").json()
        assert health["nats"] == "connected"

        async def route_seen() -> str | None:
            async with RouteWatcher(url, creds=operator_mode.creds) as watcher:  # a router with the same file
                route = watcher.table.lookup("+15551230004")
                return route.inbound_agent_name if route else None

        assert asyncio.run(route_seen()) == "sales"
    shown = everything_shown(caplog, health)
    assert operator_mode.seed not in shown
    assert operator_mode.creds.read_text().split("\n")[1] not in shown  # nor the user's JWT


def test_a_user_another_operator_signed_is_refused_with_a_clear_reason(
    tmp_path: Path, operator_mode: OperatorMode, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        data_dir=tmp_path / "service",
        nats_url=operator_mode.server.url,
        nats_creds=operator_mode.foreign_creds,
        poll_interval=0.2,
    )
    started = time.monotonic()
    with api_client(settings) as client:
        assert time.monotonic() - started < 10, "the start waited for NATS"

        def reason() -> str | None:
            return client.get("/health/ready").json()["nats_details"].get("reason")

        found = wait_until(reason, timeout=15, what="the reason in /health/ready")
    assert "authorization violation" in str(found)


@pytest.mark.parametrize("mistake", ["wrong password", "untrusted certificate", "no client certificate"])
def test_a_wrong_password_or_certificate_is_a_clear_error_in_the_log_and_health_not_a_hang(
    tmp_path: Path, pki: Pki, tls_server: ConfiguredNatsServer, caplog: pytest.LogCaptureFixture, mistake: str
) -> None:
    password, ca, cert, key = PASSWORD, pki.ca, pki.cert, pki.key
    expected: tuple[str, ...] = ("authorization violation",)
    if mistake == "wrong password":
        password = "not-the-" + PASSWORD
    elif mistake == "untrusted certificate":
        ca = pki.other_ca
        expected = ("certificate verify failed",)
    else:
        cert = key = None
        # TLS 1.3: the server checks the client's certificate after the client's handshake is done; the client sees
        # its alert, or only the connection it then closes.
        expected = ("certificate required", "Connection reset")
    url = f"nats://telephony:{password}@127.0.0.1:{tls_server.port}"
    settings = Settings(
        data_dir=tmp_path / "service", nats_url=url, nats_ca=ca, nats_cert=cert, nats_key=key, poll_interval=0.2
    )
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with api_client(settings) as client:
        assert time.monotonic() - started < 10, "the start waited for NATS"
        created = client.post("/api/settings/endpoints", json={"phone_number": "+15551230003", "provider": "twilio"})
        assert created.status_code == 201  # changes are accepted and published once NATS is reachable

        def reason() -> str | None:
            return client.get("/health/ready").json()["nats_details"].get("reason")

        found = wait_until(reason, timeout=15, what="the reason in /health/ready")
        health = client.get("/health/ready").json()
    assert health["nats"] == "down"
    assert health["nats_details"]["state"] == "down"
    assert any(word in str(found) for word in expected), found
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "NATS at" in r.getMessage()]
    assert warnings, "no log line says why NATS is not reachable"
    assert any(word in line for line in warnings for word in expected), warnings
    assert password not in everything_shown(caplog, health)
    assert PASSWORD not in everything_shown(caplog, health)


def test_the_route_watcher_says_why_it_cannot_connect(
    pki: Pki, tls_server: ConfiguredNatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"nats://telephony:wrong-{PASSWORD}@127.0.0.1:{tls_server.port}"

    async def attempt() -> None:
        watcher = RouteWatcher(url, ca=pki.ca, cert=pki.cert, key=pki.key)
        with pytest.raises(TimeoutError):
            await watcher.start(timeout=3)
        await watcher.stop()

    with caplog.at_level(logging.WARNING, logger="telephony_settings.watch"):
        asyncio.run(attempt())
    lines = [record.getMessage() for record in caplog.records]
    assert any("authorization violation" in line for line in lines), lines
    assert PASSWORD not in "\n".join(lines)
    assert redact(url) in "\n".join(lines)


def test_the_tls_context_trusts_the_ca_and_presents_the_client_certificate(pki: Pki) -> None:
    context = NatsConnection.of("tls://127.0.0.1:4222", ca=pki.ca, cert=pki.cert, key=pki.key).tls_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert NatsConnection.of("nats://127.0.0.1:4222").tls_context() is None
