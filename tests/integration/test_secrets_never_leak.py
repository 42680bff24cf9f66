"""A full scenario with every secret set, logging at DEBUG: no secret value appears in any log line, any response
(other than the credentials route), any error message, any NATS message or any KV entry."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest

from service.logs import configure_logging
from service.settings import Settings
from tests.clients import api_client
from tests.nats_support import kv_entries, stream_messages, wait_until

SECRETS = {
    "twilio_auth_token": "TWsecret-7c1d2e3f4a5b",
    "exotel_api_key": "EXkey-0a9b8c7d6e5f",
    "exotel_api_token": "EXtoken-1f2e3d4c5b6a",
    "vobiz_auth_token": "VBtoken-abcdef012345",
}
ROTATED = {name: value[::-1] for name, value in SECRETS.items()}  # a second generation of every secret


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Everything every logger emits at DEBUG, rendered as the service renders it (JSON lines)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    try:
        yield stream
    finally:
        root.handlers, root.level = handlers, level


def test_no_secret_leaks_through_logs_responses_errors_or_nats(
    settings: Settings, nats_server, debug_log: io.StringIO
) -> None:
    seen: list[bytes] = []

    def keep(response) -> None:
        seen.append(response.content)
        seen.append(repr(dict(response.headers)).encode())

    with api_client(replace(settings, nats_url=nats_server.url, poll_interval=0.1)) as client:
        base = {
            "public_base_url": "https://voice.example.com",
            "twilio_account_sid": "AC" + "5" * 32,
            "exotel_account_sid": "sid",
            "vobiz_auth_id": "vid",
        }
        for generation in (SECRETS, ROTATED):
            keep(client.put("/api/settings/telephony", json={**base, **generation}))
            for provider in ("exotel", "vobiz", "twilio"):
                keep(client.put("/api/settings/telephony", json={"provider": provider}))
        # errors about secret fields must not echo them
        keep(client.put("/api/settings/telephony", json={"twilio_auth_token": ROTATED["twilio_auth_token"] * 40}))
        keep(client.put("/api/settings/telephony", json={"provider": ROTATED["exotel_api_key"]}))
        keep(client.put("/api/settings/telephony", json={"public_base_url": ROTATED["vobiz_auth_token"]}))
        keep(client.put("/api/settings/telephony", json={"twilio_max_concurrent": ROTATED["exotel_api_token"]}))
        keep(
            client.post(
                "/api/settings/endpoints",
                json={
                    "phone_number": "+15551112222",
                    "provider": "twilio",
                    "label": ROTATED["twilio_auth_token"] * 10,
                },  # too long: 422, not echoed
            )
        )
        keep(
            client.post(
                "/api/settings/endpoints", json={"phone_number": ROTATED["vobiz_auth_token"], "provider": "twilio"}
            )
        )
        keep(client.get("/api/settings/telephony"))
        keep(client.get("/api/settings/endpoints"))
        keep(client.get("/health/ready"))
        keep(client.get("/metrics"))
        credentials = client.get("/api/settings/telephony/credentials").json()

        def published() -> list | None:
            found = stream_messages(nats_server.url)
            return found if len(found) >= 8 else None

        messages = wait_until(published, what="the changes on NATS")
        entries = kv_entries(nats_server.url)

    assert credentials["twilio_auth_token"] == ROTATED["twilio_auth_token"]  # the one place secrets may appear
    assert any(b"endpoint" in blob for blob in seen)  # the scan saw real responses
    logs = debug_log.getvalue()
    assert '"level": "debug"' in logs  # DEBUG really was on
    places = {
        "logs": logs.encode(),
        "responses": b"\n".join(seen),
        "nats messages": b"\n".join(m.data + repr(m.headers).encode() for m in messages),
        "kv entries": b"\n".join(entries.values()),
    }
    for where, blob in places.items():
        for secret in (*SECRETS.values(), *ROTATED.values()):
            assert secret.encode() not in blob, f"a secret appears in {where}"
