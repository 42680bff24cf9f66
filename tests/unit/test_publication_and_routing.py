"""What the relay publishes for each event, and the routing table a call router folds from it.

The same sequence of events is folded two ways: the relay's messages applied to a RoutingTable (stream consumer),
and the relay's KV writes applied to a RoutingTable (KV watcher). Both must equal the routes the events imply.
"""

from __future__ import annotations

import msgspec

from events import wire
from projections import SettingsView
from projections.routing import RoutingTable
from service.publish.publication import advance
from tests.unit.builders import endpoint_created, endpoint_deleted, endpoint_updated, provider_updated

BASE = "https://voice.example.com"
SUPPORT = endpoint_created("+919876543210", inbound_agent_name="support-agent")
SALES = endpoint_created("+15551234567", provider="twilio", inbound_agent_name="sales", minute=1)
HISTORY = [
    provider_updated(1, public_base_url=BASE, twilio_auth_token="secret-token-1234"),
    SUPPORT,
    SALES,
    endpoint_updated(SUPPORT, 2, inbound_agent_name="support-v2", label=None),
    endpoint_deleted(SALES, 2),
    provider_updated(2, public_base_url="https://moved.example.com"),
]


def publish_all(events: list) -> list:
    view = SettingsView()
    return [advance(view, event, position) for position, event in enumerate(events, start=1)]


def test_each_public_event_gives_one_message_with_subject_and_headers() -> None:
    publications = publish_all(HISTORY)
    assert [p.subject for p in publications] == [
        "telephony.settings.provider.updated",
        "telephony.settings.endpoints.919876543210.created",
        "telephony.settings.endpoints.15551234567.created",
        "telephony.settings.endpoints.919876543210.updated",
        "telephony.settings.endpoints.15551234567.deleted",
        "telephony.settings.provider.updated",
    ]
    update = publications[3]
    assert update.headers == {
        wire.HEADER_MSG_ID: f"{SUPPORT.originator_id}:2",
        wire.HEADER_EVENT_TYPE: "EndpointUpdated",
        wire.HEADER_POSITION: "4",
    }
    body = msgspec.json.decode(update.body)
    assert sorted(body["changed"]) == ["inbound_agent_name", "label"]
    assert body["endpoint"]["inbound_webhook_url"] == f"{BASE}/telephony/exotel/inbound/support-v2"


def test_a_deletion_publishes_the_last_state_and_deletes_the_route_key() -> None:
    deletion = publish_all(HISTORY)[4]
    body = msgspec.json.decode(deletion.body)
    assert body["endpoint"]["id"] == str(SALES.originator_id)
    assert body["endpoint"]["inbound_agent_name"] == "sales"
    assert deletion.kv_delete == ["routes.15551234567"]
    assert deletion.kv_put == {}


def test_a_base_url_change_rewrites_every_route_and_never_publishes_a_secret() -> None:
    publications = publish_all(HISTORY)
    last = publications[-1]
    assert set(last.kv_put) == {"provider", "routes.919876543210"}
    route = wire.decode_route(last.kv_put["routes.919876543210"])
    assert route.inbound_webhook_url == "https://moved.example.com/telephony/exotel/inbound/support-v2"
    assert route.position == 6
    everything = b"".join(p.body + b"".join(p.kv_put.values()) for p in publications)
    assert b"secret-token-1234" not in everything
    assert msgspec.json.decode(publications[0].body)["provider"]["twilio_auth_token"] == "set"


def test_internal_events_publish_nothing() -> None:
    from events import PhoneNumberClaimed

    claim = PhoneNumberClaimed(
        originator_id=SUPPORT.originator_id,
        originator_version=1,
        timestamp=SUPPORT.timestamp,
        actor="a",
        request_id=None,
        phone_number=SUPPORT.phone_number,
        endpoint_id=SUPPORT.originator_id,
    )
    assert advance(SettingsView(), claim, 1) is None


def test_a_stream_consumer_and_a_kv_watcher_fold_to_the_same_routes() -> None:
    publications = publish_all(HISTORY)
    from_stream, from_kv = RoutingTable(), RoutingTable()
    for publication in publications:
        from_stream.apply_message(publication.subject, publication.body)
        for key, value in publication.kv_put.items():
            from_kv.apply_kv(key, value)
        for key in publication.kv_delete:
            from_kv.apply_kv(key, None)
    assert from_stream.routes == from_kv.routes
    assert set(from_kv.routes) == {"+919876543210"}
    assert from_kv.routes["+919876543210"].inbound_agent_name == "support-v2"
    assert from_stream.provider == from_kv.provider
    assert from_stream.provider.public_base_url == "https://moved.example.com"


def test_lookup_accepts_any_spelling_and_unknown_or_garbage_gives_none() -> None:
    table = RoutingTable()
    for publication in publish_all(HISTORY[:3]):
        table.apply_message(publication.subject, publication.body)
    assert table.lookup("+1 (555) 123-4567").endpoint_id == str(SALES.originator_id)
    assert table.lookup("+91 98765 43210").inbound_agent_name == "support-agent"
    assert table.lookup("+15550000000") is None
    assert table.lookup("not a number") is None
