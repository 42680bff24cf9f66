"""A change set on NATS: routers get the same messages as for single calls, one per item, in item order, each with
the change set's id in a header; and the KV routes follow. A plain nats-py reader of the stream, a real nats-server."""

from __future__ import annotations

import json

from events import wire
from service.settings import Settings
from tests.integration.test_nats_relay import TWILIO, kv_when, published, route_keys, running


def test_a_change_sets_messages_arrive_in_item_order_marked_with_its_id(settings: Settings, nats_server) -> None:
    with running(settings, nats_server) as client:
        assert client.put("/api/settings/telephony", json=TWILIO).status_code == 200
        single = client.post("/api/settings/endpoints", json={"phone_number": "+15551230001", "provider": "twilio"})
        assert single.status_code == 201
        answer = client.post(
            "/api/settings/changes",
            json={
                "telephony": {"twilio_max_concurrent": 3},
                "endpoints": [
                    {"op": "create", "phone_number": "+15551230003", "provider": "twilio", "label": "Third"},
                    {"op": "delete", "phone_number": "+15551230001"},
                    {"op": "create", "phone_number": "+15551230002", "provider": "twilio", "label": "Second"},
                    {"op": "create", "phone_number": "+15551230004", "provider": "twilio"},
                ],
            },
        ).json()
        assert answer["applied"] is True, answer

        messages = published(nats_server, 7)
        routes = kv_when(nats_server, lambda e: len(route_keys(e)) == 3, "three routes")

    change_set = messages[2:]
    assert [m.subject for m in change_set] == [
        wire.PROVIDER_SUBJECT,
        "telephony.settings.endpoints.15551230003.created",
        "telephony.settings.endpoints.15551230001.deleted",
        "telephony.settings.endpoints.15551230002.created",
        "telephony.settings.endpoints.15551230004.created",
    ]
    assert {m.headers[wire.HEADER_CHANGE_SET] for m in change_set} == {answer["change_set"]}
    assert all(wire.HEADER_CHANGE_SET not in m.headers for m in messages[:2])  # single calls carry none
    single_body, set_body = json.loads(messages[1].data), json.loads(change_set[1].data)
    assert set(single_body) == set(set_body)  # the same message shape as a single call's
    assert set_body["endpoint"]["label"] == "Third"
    positions = [int(m.headers[wire.HEADER_POSITION]) for m in messages]
    assert positions == sorted(positions)
    assert route_keys(routes) == ["routes.15551230002", "routes.15551230003", "routes.15551230004"]
