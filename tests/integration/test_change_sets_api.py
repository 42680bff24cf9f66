"""``POST /api/settings/changes``: many changes in one request, all stored or none, on SQLite and PostgreSQL.

Through the whole HTTP API, as a client sees it: answers, errors with their paths, ``X-Settings-Version`` and
``If-Match``, ``Idempotency-Key``, dry runs, the limits, the events stored (one per item, in item order, each marked
with the change set) and the audit filter.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from events import EndpointCreated, EndpointDeleted, EndpointUpdated, ProviderUpdated
from service.container import Container, build_container
from service.settings import Settings
from service.write.commands import MAX_CHANGE_SET_ITEMS
from tests.clients import api_client
from tests.integration.support import (
    ENDPOINTS,
    TELEPHONY,
    assert_error,
    assert_validation_error,
    configure,
    create,
    endpoint_url,
    masked,
)
from tests.seed import EXOTEL, TWILIO

CHANGES = "/api/settings/changes"
VERSION = "x-settings-version"


def _head(client: TestClient) -> int:
    """The store's position, through the API: X-Settings-Version of the endpoint list."""
    return int(client.get(ENDPOINTS).headers[VERSION])


def _stored(settings: Settings) -> list[tuple[int, Any]]:
    container: Container = build_container(settings)
    try:
        app = container.app
        return [(n.id, app.mapper.to_domain_event(n)) for n in app.recorder.select_notifications(start=1, limit=10**6)]
    finally:
        container.close()


def test_a_change_set_applies_every_item_and_answers_for_each_in_order(settings: Settings) -> None:
    with api_client(settings) as client:
        configure(client, TWILIO)
        kept = create(client, phone_number="+15551230001", provider="twilio", label="Old")
        gone = create(client, phone_number="+15551230002", provider="twilio")
        body = {
            "telephony": {"public_base_url": "https://voice2.example.com"},
            "endpoints": [
                {"op": "create", "phone_number": "+1 (555) 123-0003", "provider": "twilio", "inbound_agent_name": "a1"},
                {"op": "update", "phone_number": "+1 555 123 0001", "label": "Sales"},
                {"op": "delete", "id": gone["id"]},
                {"op": "create", "phone_number": "+15551230004", "provider": "twilio", "is_active": False},
            ],
        }
        response = client.post(CHANGES, json=body)

        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["applied"] is True
        assert answer["telephony"] == "updated"
        assert [(item["op"], item["phone_number"], item["result"]) for item in answer["endpoints"]] == [
            ("create", "+15551230003", "created"),
            ("update", "+15551230001", "updated"),
            ("delete", "+15551230002", "deleted"),
            ("create", "+15551230004", "created"),
        ]
        assert answer["endpoints"][1]["id"] == kept["id"]
        assert answer["endpoints"][2]["id"] == gone["id"]
        assert response.headers[VERSION] == str(answer["position"])
        # read-your-writes: the answer's position is in the read model already
        listed = {e["phone_number"]: e for e in client.get(ENDPOINTS).json()}
        assert set(listed) == {"+15551230001", "+15551230003", "+15551230004"}
        assert listed["+15551230001"]["label"] == "Sales"
        assert listed["+15551230003"]["id"] == answer["endpoints"][0]["id"]
        assert listed["+15551230003"]["inbound_webhook_url"] == "https://voice2.example.com/telephony/twilio/inbound/a1"
        assert listed["+15551230004"]["is_active"] is False
        assert int(client.get(ENDPOINTS).headers[VERSION]) >= answer["position"]

    events = [(position, event) for position, event in _stored(settings) if getattr(event, "change_set", None)]
    ids = {event.change_set for _, event in events}
    assert ids == {UUID(answer["change_set"])}
    assert [type(event) for _, event in events] == [
        ProviderUpdated,
        EndpointCreated,
        EndpointUpdated,
        EndpointDeleted,
        EndpointCreated,
    ]
    positions = [position for position, _ in events]
    assert positions == sorted(positions)


def test_an_invalid_item_stores_nothing_and_every_problem_is_named_by_its_path(settings: Settings) -> None:
    with api_client(settings) as client:
        configure(client, TWILIO)
        held = create(client, phone_number="+15551230001", provider="twilio")
        before = _head(client)
        body = {
            "telephony": {"twilio_max_concurrent": 0},
            "endpoints": [
                {"op": "create", "phone_number": "+15551239999", "provider": "twilio"},  # valid on its own
                {"op": "create", "phone_number": "+1 555 123 0001", "provider": "twilio"},  # number in use
                {"op": "create", "phone_number": "+15551230005", "provider": "twilio"},
                {"op": "delete", "phone_number": "+1-555-123-0005"},  # a second item for that number
                {"op": "update", "id": "6f1c2f0e-0000-4000-8000-000000000000", "label": "x"},  # unknown id
                {"op": "update", "id": held["id"], "provider": "exotel"},  # provider is fixed
                {"op": "create", "phone_number": "12", "provider": "twilio"},  # not a number
                {"op": "rename", "phone_number": "+15551230006"},  # no such op
                {"op": "delete"},  # names no endpoint
                {"op": "update", "phone_number": "+15551230007", "label": "nobody"},  # no endpoint has it
            ],
        }
        response = client.post(CHANGES, json=body)

        errors = assert_validation_error(
            response,
            "telephony.twilio_max_concurrent",
            "endpoints[1].phone_number",
            "endpoints[3].phone_number",
            "endpoints[4].id",
            "endpoints[5].provider",
            "endpoints[6].phone_number",
            "endpoints[7].op",
            "endpoints[8].id",
            "endpoints[9].phone_number",
        )
        assert [error["field"] for error in errors][:2] == [  # in request order
            "telephony.twilio_max_concurrent",
            "endpoints[1].phone_number",
        ]
        assert "endpoints[2]" in next(e["message"] for e in errors if e["field"] == "endpoints[3].phone_number")
        assert "nothing was changed" in response.json()["detail"]
        assert _head(client) == before
        assert [e["phone_number"] for e in client.get(ENDPOINTS).json()] == ["+15551230001"]


def test_a_number_another_endpoint_took_meanwhile_fails_the_whole_change_set(settings: Settings) -> None:
    """The writer takes numbers it has not seen as free, and the store refuses the claim: still a 422, nothing
    stored, also when the number was taken by another process the writer knows nothing of."""
    with api_client(settings) as client:
        configure(client, TWILIO)
    with api_client(settings) as client, api_client(settings) as replica:  # two apps: two writers on one store
        create(replica, phone_number="+15551230010", provider="twilio")
        before = len(_stored(settings))
        response = client.post(
            CHANGES,
            json={
                "endpoints": [
                    {"op": "create", "phone_number": "+15551230011", "provider": "twilio"},
                    {"op": "create", "phone_number": "+15551230010", "provider": "twilio"},
                ]
            },
        )
        assert_validation_error(response, "endpoints[1].phone_number")
        assert len(_stored(settings)) == before
        assert "+15551230011" not in [e["phone_number"] for e in replica.get(ENDPOINTS).json()]


def test_a_dry_run_answers_the_same_and_stores_nothing(settings: Settings) -> None:
    with api_client(settings) as client:
        configure(client, TWILIO)
        held = create(client, phone_number="+15551230001", provider="twilio")
        before = _head(client)
        body = {
            "telephony": {"twilio_max_concurrent": 7},
            "endpoints": [
                {"op": "create", "phone_number": "+15551230002", "provider": "twilio"},
                {"op": "update", "id": held["id"], "label": held["label"]},
            ],
        }
        dry = client.post(f"{CHANGES}?dry_run=true", json=body, headers={"Idempotency-Key": "dry-1"})

        assert dry.status_code == 200, dry.text
        assert dry.json()["applied"] is False
        assert dry.json()["position"] is None
        assert dry.json()["telephony"] == "updated"
        assert [item["result"] for item in dry.json()["endpoints"]] == ["created", "unchanged"]
        assert _head(client) == before
        assert client.get(TELEPHONY).json()["twilio_max_concurrent"] != 7

        invalid = client.post(f"{CHANGES}?dry_run=true", json={"endpoints": [{"op": "delete", "id": held["id"]}] * 2})
        assert_validation_error(invalid, "endpoints[1].id")

        real = client.post(CHANGES, json=body, headers={"Idempotency-Key": "dry-1"})  # the dry run kept no key
        assert real.status_code == 200, real.text
        assert real.headers.get("idempotent-replayed") is None
        assert real.json()["applied"] is True
        assert client.get(TELEPHONY).json()["twilio_max_concurrent"] == 7


def test_if_match_on_the_settings_version_refuses_a_change_set_after_any_change(settings: Settings) -> None:
    with api_client(settings) as client:
        configure(client, TWILIO)
        endpoint = create(client, phone_number="+15551230001", provider="twilio")
        listed = client.get(ENDPOINTS)
        version = listed.headers[VERSION]
        assert client.get(TELEPHONY).headers[VERSION] == version
        body = {"endpoints": [{"op": "create", "phone_number": "+15551230002", "provider": "twilio"}]}

        client.put(endpoint_url(endpoint["id"]), json={"label": "changed by someone else"})
        stale = client.post(CHANGES, json=body, headers={"If-Match": f'"{version}"'})

        assert_error(stale, 412)
        current = stale.headers[VERSION]
        assert int(current) > int(version)
        assert "+15551230002" not in [e["phone_number"] for e in client.get(ENDPOINTS).json()]

        fresh = client.post(CHANGES, json=body, headers={"If-Match": f'"{current}"'})
        assert fresh.status_code == 200, fresh.text
        # a version the settings never had, or a tag that is no version, never matches
        assert_error(client.post(CHANGES, json=body, headers={"If-Match": '"999999999"'}), 412)
        assert_error(client.post(CHANGES, json=body, headers={"If-Match": 'W/"1"'}), 412)


def test_if_match_on_an_empty_stores_version_zero_is_checked_too(settings: Settings) -> None:
    with api_client(settings) as client:
        version = client.get(ENDPOINTS).headers[VERSION]
        assert version == "0"
        configure(client, TWILIO)  # a change after the plan
        body = {"endpoints": [{"op": "create", "phone_number": "+15551230002", "provider": "twilio"}]}
        assert_error(client.post(CHANGES, json=body, headers={"If-Match": '"0"'}), 412)
        assert client.get(ENDPOINTS).json() == []


def test_if_match_holds_when_only_an_unrelated_bookkeeping_event_was_stored(settings: Settings) -> None:
    """An Idempotency-Key record is not a setting: a change set planned before it still applies."""
    with api_client(settings) as client:
        configure(client, TWILIO)
        version = client.get(ENDPOINTS).headers[VERSION]
        unchanged = client.put(
            TELEPHONY,
            json={"twilio_max_concurrent": TWILIO["twilio_max_concurrent"]},
            headers={"Idempotency-Key": "no-op-1"},
        )  # stores only the key's record
        assert unchanged.status_code == 200
        assert _head(client) > int(version)
        body = {"endpoints": [{"op": "create", "phone_number": "+15551230002", "provider": "twilio"}]}
        response = client.post(CHANGES, json=body, headers={"If-Match": f'"{version}"'})
        assert response.status_code == 200, response.text


def test_an_idempotency_key_replays_the_first_answer_and_stores_nothing_more(settings: Settings) -> None:
    with api_client(settings) as client:
        configure(client, TWILIO)
        body = {
            "endpoints": [
                {"op": "create", "phone_number": "+15551230001", "provider": "twilio"},
                {"op": "create", "phone_number": "+15551230002", "provider": "twilio"},
            ]
        }
        first = client.post(CHANGES, json=body, headers={"Idempotency-Key": "cs-1"})
        assert first.status_code == 200, first.text
        after_first = _head(client)

        again = client.post(CHANGES, json=body, headers={"Idempotency-Key": "cs-1"})
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert _head(client) == after_first

        other = client.post(CHANGES, json={"endpoints": body["endpoints"][:1]}, headers={"Idempotency-Key": "cs-1"})
        assert_validation_error(other, "Idempotency-Key")


def test_the_audit_shows_and_filters_the_events_of_one_change_set(settings: Settings) -> None:
    with api_client(settings) as client:
        configure(client, TWILIO)
        create(client, phone_number="+15551230009", provider="twilio")  # not in the change set
        answer = client.post(
            CHANGES,
            json={
                "telephony": {"twilio_auth_token": "tw-new-secret-token-0042"},
                "endpoints": [
                    {"op": "create", "phone_number": "+15551230001", "provider": "twilio"},
                    {"op": "create", "phone_number": "+15551230002", "provider": "twilio"},
                ],
            },
        ).json()
        page = client.get("/api/audit/events", params={"change_set": answer["change_set"]})

        assert page.status_code == 200, page.text
        records = page.json()["events"]
        assert [r["type"] for r in records] == ["ProviderUpdated", "EndpointCreated", "EndpointCreated"]
        assert {r["change_set"] for r in records} == {answer["change_set"]}
        assert records[0]["data"]["changes"]["twilio_auth_token"]["new"] == masked("tw-new-secret-token-0042")
        assert "tw-new-secret-token-0042" not in page.text
        everything = client.get("/api/audit/events").json()["events"]
        assert [r["change_set"] for r in everything if r["data"].get("phone_number") == "+15551230009"] == [None]
        assert client.get("/api/audit/events", params={"change_set": "not-a-uuid"}).status_code in (400, 422)


def test_more_items_than_the_limit_is_413_naming_the_limit(client: TestClient) -> None:
    items = [{"op": "delete", "id": "6f1c2f0e-0000-4000-8000-000000000000"}] * (MAX_CHANGE_SET_ITEMS + 1)
    response = client.post(CHANGES, json={"endpoints": items})
    body = assert_error(response, 413)
    assert "10,000" in body["detail"]


def test_a_body_over_the_routes_limit_is_413_naming_the_limit(client: TestClient) -> None:
    response = client.post(
        CHANGES,
        content=b'{"endpoints": [' + b" " * (9 * 1024 * 1024) + b"]}",
        headers={"content-type": "application/json"},
    )
    body = assert_error(response, 413)
    assert "8,388,608" in body["detail"]
    # the other routes keep their own limit
    small = client.post(ENDPOINTS, content=b" " * (100 * 1024), headers={"content-type": "application/json"})
    assert small.status_code == 413


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"{", 400),
        (b"[]", 422),
        (b'{"endpoints": {}}', 422),
        (b'{"extra": 1}', 422),
    ],
)
def test_a_body_that_is_no_change_set_is_refused(client: TestClient, body: bytes, status: int) -> None:
    response = client.post(CHANGES, content=body, headers={"content-type": "application/json"})
    assert_error(response, status)


def test_a_read_key_cannot_apply_a_change_set(settings: Settings) -> None:
    with api_client(settings) as client:
        configure(client, EXOTEL)
    keys = "reader:reader-key-0123456789abcdef:read"
    with api_client(replace(settings, api_keys=keys), key="reader-key-0123456789abcdef") as reader:
        response = reader.post(
            CHANGES, json={"endpoints": [{"op": "create", "phone_number": "+15551230001", "provider": "exotel"}]}
        )
        assert_error(response, 403)
        assert reader.get(ENDPOINTS).json() == []
