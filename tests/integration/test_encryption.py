"""With TELEPHONY_CIPHER_KEY the stored event payloads are encrypted: neither the SQLite file nor the PostgreSQL rows
hold a secret or a phone number. The right key reads them back after a restart; a wrong or missing key stops the
start with a clear message and changes nothing."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from eventsourcing.cipher import AESCipher

from service.container import StoreKeyError, build_container
from service.settings import Settings
from tests.clients import api_client

SECRETS = {
    "twilio_auth_token": "tw-secret-4f1e9a77c0de",
    "exotel_api_key": "ex-key-9b8a7c6d5e4f",
    "exotel_api_token": "ex-token-1029384756ab",
    "vobiz_auth_token": "vb-token-55aa66bb77cc",
}
PHONE = "+15557654321"


def write_everything(settings: Settings) -> dict:
    with api_client(settings) as client:
        client.put(
            "/api/settings/telephony",
            json={
                "public_base_url": "https://voice.example.com",
                "twilio_account_sid": "AC" + "4" * 32,
                "exotel_account_sid": "sid",
                "vobiz_auth_id": "vid",
                **SECRETS,
            },
        ).raise_for_status()
        client.post(
            "/api/settings/endpoints", json={"phone_number": PHONE, "provider": "twilio", "inbound_agent_name": "agent"}
        ).raise_for_status()
        return {
            "telephony": client.get("/api/settings/telephony").json(),
            "endpoints": client.get("/api/settings/endpoints").json(),
        }


def stored_bytes(settings: Settings) -> bytes:
    if settings.database_url is None:
        return b"".join(path.read_bytes() for path in Path(settings.data_dir).glob("events.db*"))
    import psycopg

    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute("SELECT originator_id::text, topic, state FROM telephonysettings_events").fetchall()
    return b"".join(f"{oid}|{topic}|".encode() + bytes(state) for oid, topic, state in rows)


def fingerprint(settings: Settings) -> str:
    return hashlib.sha256(stored_bytes(settings)).hexdigest()


@pytest.fixture
def encrypted(settings: Settings) -> Settings:
    return replace(settings, cipher_key=AESCipher.create_key(32))


def test_the_store_holds_no_secret_and_no_phone_number(encrypted: Settings) -> None:
    write_everything(encrypted)
    raw = stored_bytes(encrypted)
    assert b"EndpointCreated" in raw  # the store was read (topics stay readable)
    for secret in SECRETS.values():
        assert secret.encode() not in raw
    assert PHONE.encode() not in raw
    assert PHONE.lstrip("+").encode() not in raw


def test_without_a_key_the_same_writes_are_readable_in_the_store(settings: Settings) -> None:
    # The control for the test above: the scan does find plain values when nothing is encrypted.
    write_everything(settings)
    raw = stored_bytes(settings)
    assert SECRETS["twilio_auth_token"].encode() in raw
    assert PHONE.encode() in raw


def test_a_restart_with_the_key_shows_everything_again(encrypted: Settings) -> None:
    before = write_everything(encrypted)
    with api_client(encrypted) as client:
        after = {
            "telephony": client.get("/api/settings/telephony").json(),
            "endpoints": client.get("/api/settings/endpoints").json(),
        }
        credentials = client.get("/api/settings/telephony/credentials").json()
    assert after == before
    assert credentials["twilio_auth_token"] == SECRETS["twilio_auth_token"]


@pytest.mark.parametrize("key", ["wrong", "missing"])
def test_a_wrong_or_missing_key_stops_the_start_clearly_and_changes_nothing(encrypted: Settings, key: str) -> None:
    before = write_everything(encrypted)
    print_before = fingerprint(encrypted)
    bad = replace(encrypted, cipher_key=AESCipher.create_key(32) if key == "wrong" else None)
    with pytest.raises(StoreKeyError, match="TELEPHONY_CIPHER_KEY") as caught:
        build_container(bad)
    assert "Nothing was changed" in str(caught.value)
    assert fingerprint(encrypted) == print_before
    with api_client(encrypted) as client:  # the right key still reads everything
        assert client.get("/api/settings/endpoints").json() == before["endpoints"]


def test_a_key_on_a_store_written_without_encryption_is_refused(settings: Settings) -> None:
    write_everything(settings)
    with pytest.raises(StoreKeyError, match="wrong key, or this store was written without encryption"):
        build_container(replace(settings, cipher_key=AESCipher.create_key(32)))
