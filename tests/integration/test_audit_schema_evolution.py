"""Schema evolution, once for real: ``EndpointUpdated`` and ``ProviderUpdated`` are at version 2 (they record the old
values). A store written by the service before that (version 1 events, and no hash chain yet) is read by the
current service: the events are upcast, the read model, history and point-in-time reads work on them, new events
chain onto them, and ``audit verify`` accepts them as the unchained start of the log. On SQLite and PostgreSQL."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.persistence import StoredEvent

from events import EndpointUpdated, ProviderUpdated
from service.audit.checkpoints import Checkpoints
from service.audit.verify import verify
from service.settings import Settings
from service.write.application import SettingsApplication
from tests.clients import api_client
from tests.integration.support import ENDPOINTS, TELEPHONY, endpoint_url

ENDPOINT_ID = UUID("0b7e1b6a-1f7e-4c55-9a51-6c1d1c1e0001")
INDEX_ID = UUID("7a11b2b0-8c3e-5c84-a0c7-3e2f2d1a0002")  # any id: the claim is only stored, never looked up here
SETTINGS_ID = UUID("5e771e65-7e1e-4a0e-9000-000000000001")


def _at(minute: int) -> str:
    return f'{{"_type_":"datetime_iso","_data_":"2026-01-05T10:{minute:02d}:00.000000+00:00"}}'


# Byte for byte what version 1 of the service stored: no "class_version", no "previous", no chain hash in front.
VERSION_1_EVENTS = [
    (
        SETTINGS_ID,
        1,
        "events.provider:ProviderUpdated",
        '{"timestamp":' + _at(0) + ',"actor":"old-admin","request_id":"r1","changes":{"public_base_url":'
        '"https://old.example.com","twilio_account_sid":"AC0123456789abcdef0123456789abcdef",'
        '"twilio_auth_token":"version-one-token-1234"}}',
    ),
    (
        ENDPOINT_ID,
        1,
        "events.endpoints:EndpointCreated",
        '{"timestamp":' + _at(1) + ',"actor":"old-admin","request_id":"r2","phone_number":"+15557770001",'
        '"provider":"twilio","inbound_agent_name":"agent-a","outbound_agent_name":null,"label":null,"is_active":true}',
    ),
    (
        INDEX_ID,
        1,
        "events.endpoints:PhoneNumberClaimed",
        '{"timestamp":' + _at(1) + ',"actor":"old-admin","request_id":"r2","phone_number":"+15557770001",'
        '"endpoint_id":{"_type_":"uuid_hex","_data_":"' + ENDPOINT_ID.hex + '"}}',
    ),
    (
        ENDPOINT_ID,
        2,
        "events.endpoints:EndpointUpdated",
        '{"timestamp":' + _at(2) + ',"actor":"old-admin","request_id":"r3","phone_number":"+15557770001",'
        '"changes":{"inbound_agent_name":"agent-b","label":"from version 1"}}',
    ),
]


def write_version_1_store(settings: Settings) -> None:
    app = SettingsApplication(settings.store_env())
    try:
        app.recorder.insert_events(
            [
                StoredEvent(originator_id=aggregate_id, originator_version=version, topic=topic, state=state.encode())
                for aggregate_id, version, topic, state in VERSION_1_EVENTS
            ]
        )
    finally:
        app.close()


def test_events_stored_in_version_1_are_read_upcast_and_extended(settings: Settings) -> None:
    write_version_1_store(settings)

    app = SettingsApplication(settings.store_env())
    try:
        provider, endpoint = list(app.events.get(SETTINGS_ID)), list(app.events.get(ENDPOINT_ID))
    finally:
        app.close()
    assert isinstance(endpoint[1], EndpointUpdated)
    assert endpoint[1].changes == {"inbound_agent_name": "agent-b", "label": "from version 1"}
    assert endpoint[1].previous is None  # not recorded then, and not guessed now
    assert isinstance(provider[0], ProviderUpdated)
    assert provider[0].previous is None

    with api_client(settings) as client:
        shown = client.get(endpoint_url(ENDPOINT_ID)).json()
        assert (shown["inbound_agent_name"], shown["label"]) == ("agent-b", "from version 1")
        assert shown["inbound_webhook_url"] == "https://old.example.com/telephony/twilio/inbound/agent-b"
        client.put(endpoint_url(ENDPOINT_ID), json={"label": "from version 2"}).raise_for_status()
        client.post(ENDPOINTS, json={"phone_number": "+15557770002", "provider": "twilio"}).raise_for_status()

        history = client.get(f"{endpoint_url(ENDPOINT_ID)}/history").json()["events"]
        assert [e["data"].get("changes") for e in history[1:]] == [
            {"inbound_agent_name": {"new": "agent-b"}, "label": {"new": "from version 1"}},  # no "old": v1
            {"label": {"old": "from version 1", "new": "from version 2"}},
        ]
        provider_history = client.get(f"{TELEPHONY}/history").json()["events"]
        assert provider_history[0]["data"]["changes"]["twilio_auth_token"] == {"new": "****1234"}
        then = client.get(endpoint_url(ENDPOINT_ID), params={"as_of": "2026-01-05T10:01:30Z"}).json()
        assert (then["inbound_agent_name"], then["label"]) == ("agent-a", None)

    app = SettingsApplication(settings.store_env())
    try:
        report = verify(app, Checkpoints(app))
    finally:
        app.close()
    assert report.ok, report.problem
    assert report.legacy == len(VERSION_1_EVENTS)  # the unchained start of the log, sealed since by a checkpoint
    assert report.unsealed == 0
