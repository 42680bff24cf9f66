"""The change history over HTTP: who changed what and when, every filter, paging, per-endpoint and provider history,
and the ``audit`` scope; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from service.audit import history as audit
from service.settings import Settings
from tests.clients import api_client
from tests.integration.support import ENDPOINTS, TELEPHONY, endpoint_url
from tests.seed import TWILIO

KEYS = {
    "alice": "alice-key-0123456789abcdef",  # read + write
    "bob": "bob-key-0123456789abcdef",  # read + write
    "auditor": "auditor-key-0123456789abcdef",  # audit only
}
API_KEYS = (
    f"alice:{KEYS['alice']}:read+write,bob:{KEYS['bob']}:read+write,auditor:{KEYS['auditor']}:audit,"
    "tester:test-key-0123456789abcdef:*"
)
OCCURRED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")
EVENTS = "/api/audit/events"


def as_(name: str, request_id: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {KEYS[name]}"}
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    return headers


AUDITOR = as_("auditor")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with api_client(replace(settings, api_keys=API_KEYS)) as client:
        yield client


def all_pages(client: TestClient, url: str, limit: int, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every event, following next_after; and the number of pages it took."""
    events: list[dict[str, Any]] = []
    after, pages = 0, 0
    while True:
        response = client.get(url, params={**params, "after": after, "limit": limit}, headers=AUDITOR)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["events"]) <= limit
        events += body["events"]
        pages += 1
        if body["next_after"] is None:
            return events, pages
        assert body["next_after"] > after
        after = body["next_after"]


def test_every_change_records_who_when_which_request_and_old_and_new_values(client: TestClient) -> None:
    started = datetime.now(UTC)
    put = client.put(TELEPHONY, json=TWILIO, headers=as_("alice", "req-provider-1"))
    created = client.post(
        ENDPOINTS,
        json={"phone_number": "+1 555 123 4567", "provider": "twilio", "label": "first"},
        headers=as_("bob"),
    )
    endpoint_id = created.json()["id"]
    generated_request_id = created.headers["x-request-id"]
    client.put(endpoint_url(endpoint_id), json={"label": "second", "is_active": False}, headers=as_("alice", "req-3"))
    client.put(TELEPHONY, json={"twilio_auth_token": "a-new-token-9876"}, headers=as_("bob", "req-4"))
    client.delete(endpoint_url(endpoint_id), headers=as_("bob", "req-5"))
    assert put.headers["x-request-id"] == "req-provider-1"

    events = client.get(EVENTS, headers=AUDITOR).json()["events"]

    assert [(e["type"], e["actor"], e["request_id"]) for e in events] == [
        ("ProviderUpdated", "alice", "req-provider-1"),
        ("EndpointCreated", "bob", generated_request_id),
        ("EndpointUpdated", "alice", "req-3"),
        ("ProviderUpdated", "bob", "req-4"),
        ("EndpointDeleted", "bob", "req-5"),
    ]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    for event in events:
        assert OCCURRED_AT.match(event["occurred_at"]), event["occurred_at"]
        assert started <= datetime.fromisoformat(event["occurred_at"]) <= datetime.now(UTC)
    assert [e["version"] for e in events if e["aggregate_id"] == endpoint_id] == [1, 2, 3]
    assert events[1]["data"] == {
        "phone_number": "+15551234567",
        "provider": "twilio",
        "inbound_agent_name": None,
        "outbound_agent_name": None,
        "label": "first",
        "is_active": True,
    }
    assert events[2]["data"]["changes"] == {
        "label": {"old": "first", "new": "second"},
        "is_active": {"old": True, "new": False},
    }
    first_token, second_token = TWILIO["twilio_auth_token"], "a-new-token-9876"
    assert events[0]["data"]["changes"]["twilio_auth_token"] == {"old": None, "new": "****" + first_token[-4:]}
    assert events[3]["data"]["changes"] == {
        "twilio_auth_token": {"old": "****" + first_token[-4:], "new": "****" + second_token[-4:]}
    }
    assert events[4]["data"] == {"phone_number": "+15551234567"}


def test_each_filter_narrows_the_history(client: TestClient) -> None:
    client.put(TELEPHONY, json={**TWILIO, "twilio_phone_number": "+15550001111"}, headers=as_("alice"))
    first = client.post(ENDPOINTS, json={"phone_number": "+15550001111", "provider": "twilio"}, headers=as_("alice"))
    second = client.post(ENDPOINTS, json={"phone_number": "+15550002222", "provider": "twilio"}, headers=as_("bob"))
    middle = datetime.now(UTC)
    client.put(endpoint_url(first.json()["id"]), json={"label": "x"}, headers=as_("bob"))
    client.put(endpoint_url(second.json()["id"]), json={"label": "y"}, headers=as_("alice"))
    client.delete(endpoint_url(first.json()["id"]), headers=as_("alice"))
    again = client.post(ENDPOINTS, json={"phone_number": "+15550001111", "provider": "twilio"}, headers=as_("bob"))

    def types(**params: Any) -> list[tuple[str, str]]:
        response = client.get(EVENTS, params=params, headers=AUDITOR)
        assert response.status_code == 200, response.text
        return [(e["type"], e["actor"]) for e in response.json()["events"]]

    assert types(type="EndpointUpdated") == [("EndpointUpdated", "bob"), ("EndpointUpdated", "alice")]
    assert types(actor="bob") == [("EndpointCreated", "bob"), ("EndpointUpdated", "bob"), ("EndpointCreated", "bob")]
    assert types(aggregate_id=second.json()["id"]) == [("EndpointCreated", "bob"), ("EndpointUpdated", "alice")]
    # A number: every endpoint that ever had it (also the deleted one), and the provider's change that set it.
    assert types(phone_number="+1 (555) 000-1111") == [
        ("ProviderUpdated", "alice"),
        ("EndpointCreated", "alice"),
        ("EndpointUpdated", "bob"),
        ("EndpointDeleted", "alice"),
        ("EndpointCreated", "bob"),
    ]
    assert types(phone_number="+15550001111", actor="bob", type="EndpointCreated") == [("EndpointCreated", "bob")]
    assert types(since=middle.isoformat()) == [
        ("EndpointUpdated", "bob"),
        ("EndpointUpdated", "alice"),
        ("EndpointDeleted", "alice"),
        ("EndpointCreated", "bob"),
    ]
    assert types(until=middle.isoformat()) == [
        ("ProviderUpdated", "alice"),
        ("EndpointCreated", "alice"),
        ("EndpointCreated", "bob"),
    ]
    naive_utc = middle.replace(tzinfo=None).isoformat()  # no zone: UTC
    assert types(until=naive_utc) == types(until=middle.isoformat())
    assert types(since=middle.isoformat(), aggregate_id=again.json()["id"]) == [("EndpointCreated", "bob")]
    assert types(actor="nobody") == []


MALFORMED_FILTERS = [
    ({"type": "PhoneNumberClaimed"}, "type"),  # internal events are not part of the history
    ({"aggregate_id": "not-a-uuid"}, "aggregate_id"),
    ({"phone_number": "555"}, "phone_number"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-13-01"}, "until"),
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"after": -1}, "after"),
]


def test_a_malformed_filter_is_a_validation_error_naming_it(client: TestClient) -> None:
    for params, field in MALFORMED_FILTERS:
        response = client.get(EVENTS, params=params, headers=AUDITOR)
        assert response.status_code == 422, (params, response.text)
        assert [error["field"] for error in response.json()["errors"]] == [field], params


def test_paging_through_more_events_than_one_page_returns_each_event_once(client: TestClient) -> None:
    client.put(TELEPHONY, json=TWILIO, headers=as_("alice"))
    ids = [
        client.post(ENDPOINTS, json={"phone_number": f"+1555000{n:04d}", "provider": "twilio"}).json()["id"]
        for n in range(6)
    ]
    for round_ in range(3):
        for endpoint_id in ids:
            client.put(endpoint_url(endpoint_id), json={"label": f"round {round_}"}, headers=as_("bob"))

    whole = client.get(EVENTS, params={"limit": 1000}, headers=AUDITOR).json()
    assert whole["next_after"] is None
    assert len(whole["events"]) == 1 + 6 + 18

    paged, pages = all_pages(client, EVENTS, limit=4)
    assert paged == whole["events"]
    assert pages >= 7
    filtered, pages = all_pages(client, EVENTS, limit=5, actor="bob")
    assert [e["position"] for e in filtered] == [e["position"] for e in whole["events"] if e["actor"] == "bob"]
    assert pages >= 4
    one, _ = all_pages(client, f"{endpoint_url(ids[2])}/history", limit=2)
    assert [e["version"] for e in one] == [1, 2, 3, 4]


def test_a_page_that_reads_its_share_of_the_store_stops_early_and_says_where_to_go_on(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "SCAN_LIMIT", 5)
    client.put(TELEPHONY, json=TWILIO, headers=as_("alice"))
    for n in range(8):
        client.post(ENDPOINTS, json={"phone_number": f"+1555000{n:04d}", "provider": "twilio"}, headers=as_("bob"))
    client.put(TELEPHONY, json={"twilio_max_concurrent": 3}, headers=as_("alice"))

    first = client.get(EVENTS, params={"actor": "alice"}, headers=AUDITOR).json()
    assert [e["type"] for e in first["events"]] == ["ProviderUpdated"]  # the second one is beyond the first 5 read
    assert first["next_after"] is not None
    found, _ = all_pages(client, EVENTS, limit=100, actor="alice")
    assert [e["type"] for e in found] == ["ProviderUpdated", "ProviderUpdated"]
    assert found[1]["data"]["changes"] == {"twilio_max_concurrent": {"old": 10, "new": 3}}


def test_an_endpoint_history_survives_its_deletion_and_the_provider_has_its_own(client: TestClient) -> None:
    client.put(TELEPHONY, json=TWILIO, headers=as_("alice"))
    endpoint_id = client.post(ENDPOINTS, json={"phone_number": "+15551230000", "provider": "twilio"}).json()["id"]
    client.put(endpoint_url(endpoint_id), json={"inbound_agent_name": "agent-1"}, headers=as_("bob"))
    client.delete(endpoint_url(endpoint_id), headers=as_("alice"))
    client.put(TELEPHONY, json={"provider": "twilio", "twilio_max_concurrent": 20}, headers=as_("bob"))

    assert client.get(endpoint_url(endpoint_id), headers=as_("alice")).status_code == 404
    history = client.get(f"{endpoint_url(endpoint_id)}/history", headers=AUDITOR)
    assert history.status_code == 200
    assert [e["type"] for e in history.json()["events"]] == ["EndpointCreated", "EndpointUpdated", "EndpointDeleted"]
    assert history.json()["events"][1]["data"]["changes"] == {"inbound_agent_name": {"old": None, "new": "agent-1"}}

    provider = client.get(f"{TELEPHONY}/history", headers=AUDITOR).json()
    assert [(e["actor"], e["version"]) for e in provider["events"]] == [("alice", 1), ("bob", 2)]
    assert provider["events"][1]["data"]["changes"] == {"twilio_max_concurrent": {"old": 10, "new": 20}}

    unknown = "00000000-0000-4000-8000-000000000000"
    assert client.get(f"{endpoint_url(unknown)}/history", headers=AUDITOR).status_code == 404
    assert client.get(f"{endpoint_url('not-an-id')}/history", headers=AUDITOR).status_code == 404


def test_history_and_past_states_need_the_audit_scope(client: TestClient) -> None:
    client.put(TELEPHONY, json=TWILIO, headers=as_("alice"))
    endpoint_id = client.post(ENDPOINTS, json={"phone_number": "+15551230000", "provider": "twilio"}).json()["id"]
    audited = [
        EVENTS,
        f"{TELEPHONY}/history",
        f"{endpoint_url(endpoint_id)}/history",
        f"{TELEPHONY}?at_position=1",
        f"{ENDPOINTS}?as_of=2030-01-01T00:00:00Z",
        f"{endpoint_url(endpoint_id)}?at_position=100",
    ]
    for url in audited:
        assert client.get(url, headers={"Authorization": ""}).status_code == 401, url
        denied = client.get(url, headers=as_("alice"))
        assert denied.status_code == 403, url
        assert "audit" in denied.json()["detail"]
        assert client.get(url, headers=AUDITOR).status_code == 200, url
    # the present stays a read; a change is a write whatever its query says
    assert client.get(TELEPHONY, headers=AUDITOR).status_code == 403
    assert client.put(f"{TELEPHONY}?as_of=2030-01-01", json={}, headers=AUDITOR).status_code == 403
