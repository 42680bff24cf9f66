"""The relay publishes every change to JetStream and keeps the KV bucket of routes, through outages and restarts.

Every test has its own nats-server process (the stream and bucket names are fixed), and runs the whole service
(HTTP API + relay) on a real SQLite file or PostgreSQL database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import msgspec
from litestar.testing import TestClient

from events import wire
from service.publish.nats_embedded import EmbeddedNatsServer
from service.settings import Settings
from tests.clients import api_client
from tests.nats_support import StreamMessage, delete_stream, kv_entries, stream_messages, wait_until

TWILIO = {
    "provider": "twilio",
    "public_base_url": "https://voice.example.com",
    "twilio_account_sid": "AC" + "1" * 32,
    "twilio_auth_token": "tw-secret-token-9f8e7d6c",
    "twilio_phone_number": "+15551234567",
}
ALL_SECRETS = {
    "twilio_auth_token": "tw-secret-token-9f8e7d6c",
    "exotel_api_key": "ex-secret-key-1a2b3c4d",
    "exotel_api_token": "ex-secret-token-5e6f7a8b",
    "vobiz_auth_token": "vb-secret-token-0c1d2e3f",
}


@contextmanager
def running(settings: Settings, server: EmbeddedNatsServer) -> Iterator[TestClient]:
    configured = replace(settings, nats_url=server.url, poll_interval=0.2)
    with api_client(configured) as client:
        yield client


def published(server: EmbeddedNatsServer, count: int) -> list[StreamMessage]:
    """The stream's messages once there are at least ``count`` of them."""

    def enough() -> list[StreamMessage] | None:
        messages = stream_messages(server.url)
        return messages if len(messages) >= count else None

    return wait_until(enough, what=f"{count} stream messages")  # type: ignore[return-value]


def kv_when(server: EmbeddedNatsServer, ready: Callable[[dict[str, bytes]], bool], what: str) -> dict[str, bytes]:
    """The KV bucket's entries once ``ready(entries)`` holds."""

    def check() -> dict[str, bytes] | None:
        entries = kv_entries(server.url)
        return entries if ready(entries) else None

    return wait_until(check, what=what)  # type: ignore[return-value]


def route_keys(entries: dict[str, bytes]) -> list[str]:
    return sorted(key for key in entries if key.startswith(wire.KV_ROUTE_PREFIX))


def test_each_change_is_published_with_subject_headers_and_full_state(settings, nats_server) -> None:
    with running(settings, nats_server) as client:
        assert client.put("/api/settings/telephony", json=TWILIO).status_code == 200
        created = client.post(
            "/api/settings/endpoints",
            json={"phone_number": "+91 98765 43210", "provider": "exotel", "inbound_agent_name": "support-agent"},
        ).json()
        client.put(f"/api/settings/endpoints/{created['id']}", json={"label": "Main line", "is_active": False})
        client.delete(f"/api/settings/endpoints/{created['id']}")

        messages = published(nats_server, 4)
    assert [m.subject for m in messages] == [
        "telephony.settings.provider.updated",
        "telephony.settings.endpoints.919876543210.created",
        "telephony.settings.endpoints.919876543210.updated",
        "telephony.settings.endpoints.919876543210.deleted",
    ]
    positions = [int(m.headers[wire.HEADER_POSITION]) for m in messages]
    assert positions == sorted(positions)
    assert len(set(positions)) == 4
    for message in messages:
        body = json.loads(message.data)
        assert message.headers[wire.HEADER_MSG_ID] == body["id"]
        assert message.headers[wire.HEADER_EVENT_TYPE] == body["type"]
        assert int(message.headers[wire.HEADER_POSITION]) == body["position"]
        assert body["actor"] == "tester"
        assert body["occurred_at"].endswith("+00:00")
        assert "." in body["occurred_at"]

    provider, create, update, delete = (json.loads(m.data) for m in messages)
    assert provider["type"] == "ProviderUpdated"
    assert provider["id"].endswith(":1")
    assert provider["provider"]["twilio_auth_token"] == "set"
    assert provider["provider"]["exotel_api_key"] == "not set"
    assert provider["provider"]["public_base_url"] == "https://voice.example.com"
    assert "twilio_auth_token" in provider["changed"]

    assert create["id"] == f"{created['id']}:1"
    assert create["endpoint"] == {**created, "label": None}  # the endpoint as the REST API returned it
    assert create["endpoint"]["inbound_webhook_url"] == (
        "https://voice.example.com/telephony/exotel/inbound/support-agent"
    )
    assert update["id"] == f"{created['id']}:2"
    assert sorted(update["changed"]) == ["is_active", "label"]
    assert update["endpoint"]["label"] == "Main line"
    assert update["endpoint"]["is_active"] is False
    assert delete["type"] == "EndpointDeleted"
    assert delete["endpoint"]["id"] == created["id"]


def test_kv_routes_follow_creates_updates_deletes_and_base_url_changes(settings, nats_server) -> None:
    with running(settings, nats_server) as client:
        client.put("/api/settings/telephony", json=TWILIO)
        ids = [
            client.post(
                "/api/settings/endpoints",
                json={"phone_number": number, "provider": "twilio", "inbound_agent_name": f"agent-{i}"},
            ).json()["id"]
            for i, number in enumerate(["+15551230001", "+15551230002", "+15551230003"])
        ]
        client.put(f"/api/settings/endpoints/{ids[0]}", json={"outbound_agent_name": "sales"})
        client.delete(f"/api/settings/endpoints/{ids[2]}")
        client.put("/api/settings/telephony", json={"public_base_url": "https://new.example.org/base/"})

        def settled() -> dict[str, bytes] | None:
            entries = kv_entries(nats_server.url)
            routes = {k: msgspec.json.decode(v) for k, v in entries.items() if k.startswith("routes.")}
            done = len(routes) == 2 and all(
                r["inbound_webhook_url"].startswith("https://new.example.org/base/") for r in routes.values()
            )
            return entries if done else None

        entries = wait_until(settled, what="KV routes rewritten to the new base URL")
        rest = client.get("/api/settings/endpoints").json()

    routes = {k: wire.decode_route(v) for k, v in entries.items() if k.startswith("routes.")}
    assert set(routes) == {"routes.15551230001", "routes.15551230002"}
    first = routes["routes.15551230001"]
    assert first.endpoint_id == ids[0]
    assert first.outbound_agent_name == "sales"
    assert first.inbound_webhook_url == "https://new.example.org/base/telephony/twilio/inbound/agent-0"
    assert {r.phone_number: r.inbound_webhook_url for r in routes.values()} == {
        e["phone_number"]: e["inbound_webhook_url"] for e in rest
    }
    provider = wire.decode_provider(entries["provider"])
    assert provider.public_base_url == "https://new.example.org/base"
    assert provider.twilio_auth_token == "set"


def test_writes_during_a_nats_outage_are_published_once_in_order_when_it_returns(settings, nats_server) -> None:
    with running(settings, nats_server) as client:
        client.put("/api/settings/telephony", json=TWILIO)
        published(nats_server, 1)
        nats_server.kill()
        ids = []
        for i in range(20):
            response = client.post(
                "/api/settings/endpoints",
                json={"phone_number": f"+1555123{i:04d}", "provider": "twilio", "inbound_agent_name": "agent"},
            )
            assert response.status_code == 201  # writes keep succeeding while NATS is down
            ids.append(response.json()["id"])
        assert client.get("/api/settings/endpoints").headers["x-total-count"] == "20"
        outage = client.get("/health/ready")
        assert outage.status_code == 200  # still ready: changes are accepted and kept for the relay
        assert outage.json()["nats"] == "down"
        assert outage.json()["relay_lag"] >= 20

        restarted = EmbeddedNatsServer(nats_server.store_dir, port=nats_server.port).start()
        try:
            messages = published(restarted, 21)
            entries = kv_when(restarted, lambda e: len(route_keys(e)) == 20, "20 KV routes")
            rest = {e["phone_number"]: e["id"] for e in client.get("/api/settings/endpoints").json()}
            recovered = wait_until(
                lambda: (r := client.get("/health/ready").json())["relay_lag"] == 0 and r, what="relay lag 0"
            )
        finally:
            restarted.stop()
        assert recovered["nats"] == "connected"
    created = [json.loads(m.data)["endpoint"]["id"] for m in messages[1:]]
    assert created == ids  # all 20, once each, in the order they were written
    assert len({m.headers[wire.HEADER_MSG_ID] for m in messages}) == len(messages) == 21
    assert {
        wire.decode_route(v).phone_number: wire.decode_route(v).endpoint_id
        for k, v in entries.items()
        if k.startswith("routes.")
    } == rest


def test_restarting_the_service_never_duplicates_a_message(settings, nats_server) -> None:
    with running(settings, nats_server) as client:
        client.put("/api/settings/telephony", json=TWILIO)
        for i in range(5):
            client.post("/api/settings/endpoints", json={"phone_number": f"+1555999{i:04d}", "provider": "twilio"})
        published(nats_server, 6)
    with running(settings, nats_server) as client:
        for i in range(5, 8):
            client.post("/api/settings/endpoints", json={"phone_number": f"+1555999{i:04d}", "provider": "twilio"})
        messages = published(nats_server, 9)
        later = stream_messages(nats_server.url)  # give a wrong republish a moment to show
    assert len(later) == len(messages) == 9
    assert len({m.headers[wire.HEADER_MSG_ID] for m in later}) == 9


def test_a_deleted_stream_is_republished_and_the_kv_rebuilt_while_running(settings, nats_server) -> None:
    with running(settings, nats_server) as client:
        client.put("/api/settings/telephony", json=TWILIO)
        created = [
            client.post(
                "/api/settings/endpoints", json={"phone_number": f"+1555777{i:04d}", "provider": "twilio"}
            ).json()["id"]
            for i in range(3)
        ]
        client.delete(f"/api/settings/endpoints/{created[0]}")
        published(nats_server, 5)
        delete_stream(nats_server.url)
        messages = published(nats_server, 5)
        routes = route_keys(kv_when(nats_server, lambda e: len(route_keys(e)) == 2, "2 routes"))
    assert [json.loads(m.data)["type"] for m in messages] == [
        "ProviderUpdated",
        "EndpointCreated",
        "EndpointCreated",
        "EndpointCreated",
        "EndpointDeleted",
    ]
    assert sorted(routes) == ["routes.15557770001", "routes.15557770002"]


def test_a_stream_lost_before_restart_is_republished_at_start(settings, tmp_path) -> None:
    first = EmbeddedNatsServer(tmp_path / "nats-a").start()
    try:
        with running(settings, first) as client:
            client.put("/api/settings/telephony", json=TWILIO)
            client.post("/api/settings/endpoints", json={"phone_number": "+15556660001", "provider": "twilio"})
            published(first, 2)
    finally:
        first.stop()
    fresh = EmbeddedNatsServer(tmp_path / "nats-b").start()  # NATS came back with no data at all
    try:
        with running(settings, fresh):
            messages = published(fresh, 2)
            entries = kv_when(fresh, lambda e: "routes.15556660001" in e, "the route in a fresh bucket")
    finally:
        fresh.stop()
    assert [m.subject for m in messages] == [
        "telephony.settings.provider.updated",
        "telephony.settings.endpoints.15556660001.created",
    ]
    assert "provider" in entries


def test_the_service_starts_and_serves_while_nats_is_down(settings, tmp_path) -> None:
    server = EmbeddedNatsServer(tmp_path / "nats-late")
    with running(settings, server) as client:  # nothing listens on server.port yet
        assert client.get("/api/settings/telephony").status_code == 200
        assert client.put("/api/settings/telephony", json=TWILIO).status_code == 200
        server.start()
        try:
            messages = published(server, 1)
        finally:
            server.stop()
    assert messages[0].subject == "telephony.settings.provider.updated"


def test_no_secret_value_appears_in_any_message_or_kv_entry(settings, nats_server) -> None:
    with running(settings, nats_server) as client:
        client.put(
            "/api/settings/telephony",
            json={**TWILIO, **ALL_SECRETS, "exotel_account_sid": "sid", "vobiz_auth_id": "vid"},
        )
        client.put("/api/settings/telephony", json={"provider": "exotel"})
        client.put("/api/settings/telephony", json={"provider": "vobiz"})
        client.post(
            "/api/settings/endpoints",
            json={"phone_number": "+15554440001", "provider": "vobiz", "inbound_agent_name": "a"},
        )
        messages = published(nats_server, 4)
        entries = kv_when(nats_server, lambda e: len(e) >= 2, "KV")
    blobs = [m.data for m in messages] + [json.dumps(m.headers).encode() for m in messages] + list(entries.values())
    assert all(secret.encode() not in blob for secret in ALL_SECRETS.values() for blob in blobs)
    provider = json.loads(messages[-2].data)["provider"]
    assert {provider[name] for name in ALL_SECRETS} == {"set"}


def test_relay_works_against_both_nats_server_builds(settings, any_nats_server) -> None:
    with running(settings, any_nats_server) as client:
        client.put("/api/settings/telephony", json=TWILIO)
        client.post("/api/settings/endpoints", json={"phone_number": "+15553330001", "provider": "twilio"})
        messages = published(any_nats_server, 2)
        entries = kv_when(any_nats_server, lambda e: "routes.15553330001" in e, "route")
    assert len(messages) == 2
    assert "provider" in entries


def test_a_store_that_meets_another_stores_stream_publishes_all_of_its_own_changes(
    settings, nats_server, tmp_path
) -> None:
    # A first store publishes three changes; then a second store (a new data dir or database, the same NATS) that
    # already holds more events than the stream's last position starts its relay: the stream's positions are the
    # first store's, and the second store's changes must all be published, not skipped up to that position.
    first = replace(settings, data_dir=tmp_path / "first", database_url=None)
    with running(first, nats_server) as client:
        for i in range(3):
            client.post("/api/settings/endpoints", json={"phone_number": f"+1555444{i:04d}", "provider": "twilio"})
        published(nats_server, 3)
    with api_client(replace(settings, nats_url="off")) as offline:  # the second store, written before NATS is on
        own = [
            offline.post(
                "/api/settings/endpoints", json={"phone_number": f"+1555333{i:04d}", "provider": "twilio"}
            ).json()["id"]
            for i in range(4)
        ]
    with running(settings, nats_server):
        messages = published(nats_server, 3 + 4)
    published_ids = {json.loads(m.data)["endpoint"]["id"] for m in messages}
    assert set(own) <= published_ids
