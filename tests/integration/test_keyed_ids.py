"""With TELEPHONY_CIPHER_KEY the ids derived from phone numbers and Idempotency-Keys are keyed, so trying candidate
numbers (or keys) against the ids in the store recovers nothing; the rules they enforce (one endpoint per number,
replayed idempotent requests) hold as before. A store encrypted before ids were keyed is refused with the command
that migrates it, and ``migrate keyed-ids`` re-keys it in place, keeping its history verifiable. On both backends."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner
from eventsourcing.cipher import AESCipher

from service.audit.checkpoints import Checkpoints
from service.audit.verify import verify
from service.cli import main
from service.container import StoreKeyError, build_container
from service.settings import Settings
from service.write.application import SettingsApplication
from service.write.commands import Actor, NewEndpoint
from service.write.conditions import Conditions, IdempotencyRequest
from service.write.ids import PUBLIC, public_idempotency_id, public_phone_number_index_id
from tests.clients import api_client

NUMBERS = [f"+1555000{n:04d}" for n in range(40)]
IDEMPOTENCY_KEY = "order-1"
ENDPOINTS = "/api/settings/endpoints"


@pytest.fixture
def encrypted(settings: Settings) -> Settings:
    return replace(settings, cipher_key=AESCipher.create_key(32))


def stored_ids(settings: Settings) -> set[UUID]:
    """Every aggregate id in the events table, as someone holding the database sees them."""
    if settings.database_url is None:
        conn = sqlite3.connect(Path(settings.data_dir) / "events.db")
        try:
            rows = conn.execute("SELECT originator_id FROM stored_events").fetchall()
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(settings.database_url) as conn:
            rows = conn.execute("SELECT originator_id FROM telephonysettings_events").fetchall()
    return {UUID(str(value)) for (value,) in rows}


def cli_env(settings: Settings) -> dict[str, str]:
    env = {"TELEPHONY_DATA_DIR": str(settings.data_dir), "TELEPHONY_CIPHER_KEY": settings.cipher_key or ""}
    if settings.database_url is not None:
        env["TELEPHONY_DATABASE_URL"] = settings.database_url
    return env


def write_numbers_and_a_keyed_request(settings: Settings) -> None:
    with api_client(settings) as client:
        for number in NUMBERS[:5]:
            client.post(ENDPOINTS, json={"phone_number": number, "provider": "twilio"}).raise_for_status()
        created = client.post(
            ENDPOINTS,
            json={"phone_number": NUMBERS[5], "provider": "twilio"},
            headers={"Idempotency-Key": IDEMPOTENCY_KEY},
        )
        assert created.status_code == 201, created.text


def test_candidate_numbers_and_keys_tried_against_the_stored_ids_find_nothing(encrypted: Settings) -> None:
    write_numbers_and_a_keyed_request(encrypted)
    ids = stored_ids(encrypted)

    candidates = {public_phone_number_index_id(number) for number in NUMBERS}
    candidates.add(public_idempotency_id("tester", IDEMPOTENCY_KEY))

    assert len(ids) >= 12  # 6 endpoints, 6 index aggregates, 1 idempotency record (the provider was not set)
    assert not ids & candidates, "a stored id reveals a phone number or an Idempotency-Key"


def test_without_encryption_the_ids_stay_public_as_before(settings: Settings) -> None:
    write_numbers_and_a_keyed_request(settings)
    ids = stored_ids(settings)
    assert {public_phone_number_index_id(number) for number in NUMBERS[:6]} <= ids
    assert public_idempotency_id("tester", IDEMPOTENCY_KEY) in ids


def test_with_keyed_ids_a_number_is_still_held_once_and_a_retry_is_still_replayed(encrypted: Settings) -> None:
    write_numbers_and_a_keyed_request(encrypted)
    with api_client(encrypted) as client:  # a restart: nothing is remembered but the store
        again = client.post(ENDPOINTS, json={"phone_number": "+1 555 000 0003", "provider": "twilio"})
        assert again.status_code == 409, again.text
        replayed = client.post(
            ENDPOINTS,
            json={"phone_number": NUMBERS[5], "provider": "twilio"},
            headers={"Idempotency-Key": IDEMPOTENCY_KEY},
        )
        assert replayed.status_code == 201, replayed.text
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert len(client.get(ENDPOINTS).json()) == 6


def test_two_keys_give_two_unrelated_sets_of_ids(encrypted: Settings, tmp_path: Path) -> None:
    first = SettingsApplication(encrypted.store_env())
    second_settings = replace(encrypted, cipher_key=AESCipher.create_key(32), data_dir=tmp_path / "other")
    second = SettingsApplication(second_settings.store_env())
    try:
        assert first.ids.phone_number_index(NUMBERS[0]) != second.ids.phone_number_index(NUMBERS[0])
        assert first.ids.phone_number_index(NUMBERS[0]) == first.ids.phone_number_index(NUMBERS[0])
        assert first.ids.phone_number_index(NUMBERS[0]) != first.ids.phone_number_index(NUMBERS[1])
    finally:
        first.close()
        second.close()


def write_as_before_keyed_ids(settings: Settings) -> None:
    """An encrypted store as the service wrote it before ids were keyed: numbers claimed, released and claimed again,
    an Idempotency-Key recorded, and the history sealed by checkpoints."""
    app = SettingsApplication(settings.store_env())
    app.ids = PUBLIC
    try:
        actor = Actor("tester")
        for number in NUMBERS[:3]:
            app.create_endpoint(NewEndpoint(phone_number=number, provider="twilio"), actor)
        endpoint_id, _ = app.create_endpoint(NewEndpoint(phone_number=NUMBERS[3], provider="twilio"), actor)
        app.delete_endpoint(endpoint_id, actor)
        app.create_endpoint(NewEndpoint(phone_number=NUMBERS[3], provider="exotel"), actor)
        body = {"phone_number": NUMBERS[4], "provider": "twilio"}
        keyed = IdempotencyRequest.of("tester", IDEMPOTENCY_KEY, "POST", ENDPOINTS, body)
        app.handle_create_endpoint(
            NewEndpoint(phone_number=NUMBERS[4], provider="twilio"), actor, Conditions(idempotency=keyed)
        )
        Checkpoints(app).write()
    finally:
        app.close()


def test_a_store_encrypted_before_ids_were_keyed_is_refused_naming_the_migration(encrypted: Settings) -> None:
    write_as_before_keyed_ids(encrypted)
    ids_before = stored_ids(encrypted)

    with pytest.raises(StoreKeyError, match="telephony-settings migrate keyed-ids") as caught:
        build_container(encrypted)

    assert "Nothing was changed" in str(caught.value)
    assert stored_ids(encrypted) == ids_before


def test_the_migration_keys_the_ids_keeps_the_rules_and_the_history_verifiable(encrypted: Settings) -> None:
    write_as_before_keyed_ids(encrypted)
    public = {public_phone_number_index_id(number) for number in NUMBERS[:5]}
    public.add(public_idempotency_id("tester", IDEMPOTENCY_KEY))
    assert public <= stored_ids(encrypted)
    runner = CliRunner()

    migrated = runner.invoke(main, ["migrate", "keyed-ids"], env=cli_env(encrypted))

    assert migrated.exit_code == 0, migrated.output
    assert "keyed the ids of 6 aggregates" in migrated.stdout
    assert "head digest now:" in migrated.stdout
    assert not stored_ids(encrypted) & public
    app = SettingsApplication(encrypted.store_env())
    try:
        report = verify(app, Checkpoints(app))
    finally:
        app.close()
    assert report.problem is None, report.problem
    assert report.unsealed == 0
    with api_client(encrypted) as client:  # the service starts, and the numbers and the key are still known
        assert len(client.get(ENDPOINTS).json()) == 5
        taken = client.post(ENDPOINTS, json={"phone_number": NUMBERS[3], "provider": "twilio"})
        assert taken.status_code == 409, taken.text
        replayed = client.post(
            ENDPOINTS,
            json={"phone_number": NUMBERS[4], "provider": "twilio"},
            headers={"Idempotency-Key": IDEMPOTENCY_KEY},
        )
        assert replayed.headers.get("Idempotent-Replayed") == "true", replayed.text
        freed = client.post(ENDPOINTS, json={"phone_number": NUMBERS[6], "provider": "twilio"})
        assert freed.status_code == 201, freed.text
    again = runner.invoke(main, ["migrate", "keyed-ids"], env=cli_env(encrypted))
    assert again.exit_code == 0, again.output
    assert "nothing to migrate" in again.stdout


def test_the_migration_needs_the_cipher_key(settings: Settings) -> None:
    result = CliRunner().invoke(main, ["migrate", "keyed-ids"], env=cli_env(settings))
    assert result.exit_code == 1
    assert "TELEPHONY_CIPHER_KEY" in result.output
