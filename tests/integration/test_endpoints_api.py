"""Stories of creating, reading, updating and deleting one endpoint through ``/api/settings/endpoints``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from litestar.testing import TestClient

from events import EndpointCreated, EndpointDeleted, EndpointUpdated
from service.container import Container
from tests.integration.support import (
    ENDPOINTS,
    TIMESTAMP,
    assert_error,
    assert_validation_error,
    configure,
    create,
    endpoint_url,
    head,
    stored_events,
)
from tests.seed import ENDPOINT_RESPONSE_FIELDS, EXOTEL, SUPPORT_LINE, TWILIO

JSON = {"Content-Type": "application/json"}


def _parse_time(text: str) -> datetime:
    assert TIMESTAMP.match(text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def test_creating_the_seed_example_answers_201_with_location_and_every_response_field(client: TestClient) -> None:
    configure(client, EXOTEL)
    started = datetime.now(UTC).replace(microsecond=0)

    response = client.post(ENDPOINTS, json=SUPPORT_LINE)

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == ENDPOINT_RESPONSE_FIELDS
    assert uuid.UUID(body["id"]).version == 4
    assert response.headers["Location"] == f"{ENDPOINTS}/{body['id']}"
    assert {k: body[k] for k in SUPPORT_LINE} == SUPPORT_LINE
    assert body["is_active"] is True
    assert body["inbound_webhook_url"] == "https://your-domain.com/telephony/exotel/inbound/support-agent"
    created = _parse_time(body["created_at"])
    assert started - timedelta(seconds=1) <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert body["updated_at"] == body["created_at"]

    location = client.get(response.headers["Location"])
    assert location.status_code == 200
    assert location.json() == body


def test_the_seed_phone_numbers_and_the_minimal_body_are_accepted(client: TestClient) -> None:
    us = create(client, phone_number="+15551234567", provider="twilio")
    india = create(client, phone_number="+919876543210", provider="vobiz", is_active=False)

    assert us["phone_number"] == "+15551234567"
    assert us["is_active"] is True
    assert us["inbound_agent_name"] is None
    assert us["outbound_agent_name"] is None
    assert us["label"] is None
    assert us["inbound_webhook_url"] is None
    assert india["phone_number"] == "+919876543210"
    assert india["is_active"] is False
    assert us["id"] != india["id"]


def test_every_tolerated_spelling_of_a_number_is_stored_in_e164(client: TestClient) -> None:
    spellings = {
        "+1 (555) 123-4567": "+15551234567",
        "+1.555.123.4567": "+15551234567",
        "+1-555-123-4567": "+15551234567",
        "  +15551234567  ": "+15551234567",
        "+91 98765 43210": "+919876543210",
        "+91-98765-43210": "+919876543210",
        "+44 20 7183 8750": "+442071838750",
        "+44 (0)20 7183 8750": "+442071838750",
    }

    for spelling, e164 in spellings.items():
        created = create(client, phone_number=spelling, provider="twilio")
        assert created["phone_number"] == e164, spelling
        assert client.get(endpoint_url(created["id"])).json()["phone_number"] == e164
        assert client.delete(endpoint_url(created["id"])).status_code == 204


def test_a_second_endpoint_for_the_same_number_in_another_spelling_is_a_conflict(
    client: TestClient, container: Container
) -> None:
    first = create(client, **SUPPORT_LINE)
    before = head(container)

    for spelling in ("+919876543210", "+91 98765 43210", "+91-98765-43210", "+91 (98765) 43210"):
        body = assert_error(client.post(ENDPOINTS, json={"phone_number": spelling, "provider": "twilio"}), 409)
        assert "+919876543210" in body["detail"]

    assert head(container) == before
    listed = client.get(ENDPOINTS).json()
    assert [e["id"] for e in listed] == [first["id"]]


def test_after_a_delete_the_number_is_free_again(client: TestClient) -> None:
    first = create(client, **SUPPORT_LINE)
    assert client.delete(endpoint_url(first["id"])).status_code == 204

    second = create(client, phone_number="+91 98765 43210", provider="vobiz", inbound_agent_name="other-agent")

    assert second["id"] != first["id"]
    assert second["phone_number"] == "+919876543210"
    assert second["provider"] == "vobiz"
    assert [e["id"] for e in client.get(ENDPOINTS).json()] == [second["id"]]
    assert assert_error(client.post(ENDPOINTS, json=SUPPORT_LINE), 409)


def test_agent_names_labels_and_active_flag_at_their_limits_are_accepted(client: TestClient) -> None:
    longest_agent = "A" + "b" * 63
    longest_label = "L" * 100

    created = create(
        client,
        phone_number="+15551234567",
        provider="twilio",
        inbound_agent_name=longest_agent,
        outbound_agent_name="9.sales_agent-v2",
        label=longest_label,
        is_active=True,
    )
    assert created["inbound_agent_name"] == longest_agent
    assert created["outbound_agent_name"] == "9.sales_agent-v2"
    assert created["label"] == longest_label

    single = create(client, phone_number="+15551234568", provider="exotel", inbound_agent_name="a")
    assert single["inbound_agent_name"] == "a"


def _new(**fields: object) -> dict[str, object]:
    return {"phone_number": "+15551234567", "provider": "twilio", **fields}


INVALID_NEW_ENDPOINTS = [
    ({"provider": "twilio"}, "phone_number"),
    ({"phone_number": "+15551234567"}, "provider"),
    (_new(provider="plivo"), "provider"),
    (_new(provider=None), "provider"),
    (_new(phone_number="5551234567"), "phone_number"),
    (_new(phone_number="0091 98765 43210"), "phone_number"),
    (_new(phone_number="+1 555 CALL-NOW"), "phone_number"),
    (_new(phone_number="+1555"), "phone_number"),
    (_new(phone_number="+999 123456"), "phone_number"),
    (_new(phone_number=""), "phone_number"),
    (_new(phone_number=15551234567), "phone_number"),
    (_new(phone_number=None), "phone_number"),
    (_new(phone_number="+1" + "5" * 40), "phone_number"),
    (_new(inbound_agent_name="support agent"), "inbound_agent_name"),
    (_new(inbound_agent_name="-support"), "inbound_agent_name"),
    (_new(inbound_agent_name="a/b"), "inbound_agent_name"),
    (_new(inbound_agent_name=""), "inbound_agent_name"),
    (_new(inbound_agent_name="a" * 65), "inbound_agent_name"),
    (_new(outbound_agent_name="sales?x=1"), "outbound_agent_name"),
    (_new(outbound_agent_name="agént"), "outbound_agent_name"),
    (_new(label="L" * 101), "label"),
    (_new(label=42), "label"),
    (_new(is_active="maybe"), "is_active"),
    (_new(id=str(uuid.uuid4())), "id"),
    (_new(agent="x"), "agent"),
]


def test_an_invalid_new_endpoint_is_refused_naming_the_field(client: TestClient, container: Container) -> None:
    before = head(container)

    for body, field in INVALID_NEW_ENDPOINTS:
        assert_validation_error(client.post(ENDPOINTS, json=body), field)

    assert head(container) == before
    assert client.get(ENDPOINTS).json() == []


def test_a_malformed_or_empty_body_is_a_bad_request(client: TestClient, container: Container) -> None:
    before = head(container)

    assert_error(client.post(ENDPOINTS, content=b'{"phone_number": "+15551234567",', headers=JSON), 400)
    assert_error(client.post(ENDPOINTS, content=b"phone_number=+15551234567", headers=JSON), 400)
    assert_error(client.post(ENDPOINTS, content=b"", headers=JSON), 400)
    assert_error(client.post(ENDPOINTS), 400)
    assert client.post(ENDPOINTS, json=[SUPPORT_LINE]).status_code in (400, 422)

    assert head(container) == before
    assert client.get(ENDPOINTS).json() == []


def test_an_unknown_or_malformed_id_is_not_found_for_every_method(client: TestClient, container: Container) -> None:
    existing = create(client, **SUPPORT_LINE)
    before = head(container)

    for raw_id in (
        str(uuid.uuid4()),
        "not-a-uuid",
        "12345",
        "00000000-0000-0000-0000-00000000000g",
        existing["id"] + "0",
    ):
        url = endpoint_url(raw_id)
        assert_error(client.get(url), 404)
        assert_error(client.put(url, json={"label": "x"}), 404)
        assert_error(client.delete(url), 404)

    assert head(container) == before
    assert client.get(endpoint_url(existing["id"])).json() == existing


def test_an_update_changes_only_the_fields_sent_and_null_clears_agents_and_label(client: TestClient) -> None:
    configure(client, EXOTEL)
    created = create(client, **SUPPORT_LINE)
    url = endpoint_url(created["id"])

    response = client.put(url, json={"outbound_agent_name": "sales-agent-v2"})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated == {**created, "outbound_agent_name": "sales-agent-v2", "updated_at": updated["updated_at"]}
    assert _parse_time(updated["updated_at"]) >= _parse_time(created["created_at"])
    assert client.get(url).json() == updated

    updated = client.put(url, json={"is_active": False, "label": "Night line"}).json()
    assert updated["is_active"] is False
    assert updated["label"] == "Night line"
    assert updated["outbound_agent_name"] == "sales-agent-v2"
    assert client.get(url).json() == updated

    cleared = client.put(url, json={"inbound_agent_name": None, "outbound_agent_name": None, "label": None}).json()
    assert cleared["inbound_agent_name"] is None
    assert cleared["outbound_agent_name"] is None
    assert cleared["label"] is None
    assert cleared["inbound_webhook_url"] is None
    assert cleared["is_active"] is False
    for fixed in ("id", "phone_number", "provider", "created_at"):
        assert cleared[fixed] == created[fixed]
    assert client.get(url).json() == cleared

    restored = client.put(url, json={"inbound_agent_name": "support-agent", "is_active": True}).json()
    assert restored["inbound_webhook_url"] == "https://your-domain.com/telephony/exotel/inbound/support-agent"
    assert client.get(url).json() == restored


def test_the_number_and_the_provider_of_an_endpoint_are_fixed(client: TestClient, container: Container) -> None:
    created = create(client, **SUPPORT_LINE)
    url = endpoint_url(created["id"])
    before = head(container)

    for field, new_value in (("phone_number", "+15551234567"), ("provider", "twilio")):
        for body in ({field: new_value}, {field: new_value, "label": "changed"}, {field: created[field]}):
            errors = assert_validation_error(client.put(url, json=body), field)
            message = errors[0]["message"].lower()
            assert "fixed" in message
            assert "delete" in message
            assert "create" in message

    assert head(container) == before
    assert client.get(url).json() == created


def test_an_invalid_update_is_refused_and_changes_nothing(client: TestClient, container: Container) -> None:
    created = create(client, **SUPPORT_LINE)
    url = endpoint_url(created["id"])
    before = head(container)

    for body, field in (
        ({"inbound_agent_name": "support agent"}, "inbound_agent_name"),
        ({"outbound_agent_name": "x" * 65}, "outbound_agent_name"),
        ({"label": "L" * 101}, "label"),
        ({"is_active": "maybe"}, "is_active"),
        ({"is_active": None}, "is_active"),
        ({"created_at": "2020-01-01T00:00:00"}, "created_at"),
        ({"id": str(uuid.uuid4())}, "id"),
    ):
        assert_validation_error(client.put(url, json=body), field)
    assert_error(client.put(url, content=b'{"label": ', headers=JSON), 400)
    assert_error(client.put(url, content=b"", headers=JSON), 400)

    assert head(container) == before
    assert client.get(url).json() == created


def test_an_update_that_changes_nothing_stores_no_event(client: TestClient, container: Container) -> None:
    created = create(client, **SUPPORT_LINE)
    url = endpoint_url(created["id"])
    before = head(container)

    for same in (
        {},
        {"label": "Main support line"},
        {"inbound_agent_name": "support-agent", "outbound_agent_name": "sales-agent", "is_active": True},
    ):
        response = client.put(url, json=same)
        assert response.status_code == 200, response.text
        assert response.json() == created

    assert head(container) == before


def test_a_deleted_endpoint_answers_404_to_get_put_and_delete(client: TestClient, container: Container) -> None:
    kept = create(client, phone_number="+15551234567", provider="twilio")
    gone = create(client, **SUPPORT_LINE)
    url = endpoint_url(gone["id"])
    assert client.get(ENDPOINTS).headers["X-Total-Count"] == "2"

    response = client.delete(url)

    assert response.status_code == 204
    assert response.content == b""
    assert_error(client.get(url), 404)
    assert_error(client.put(url, json={"label": "back?"}), 404)
    assert_error(client.delete(url), 404)
    listed = client.get(ENDPOINTS)
    assert [e["id"] for e in listed.json()] == [kept["id"]]
    assert listed.headers["X-Total-Count"] == "1"
    deletions = [e for e in stored_events(container) if isinstance(e, EndpointDeleted)]
    assert [str(e.originator_id) for e in deletions] == [gone["id"]]


def test_the_store_records_each_change_once_with_its_actor_and_only_the_changed_fields(
    client: TestClient, container: Container
) -> None:
    created = create(client, **SUPPORT_LINE)
    url = endpoint_url(created["id"])
    client.put(url, json={"label": "Main support line", "is_active": False})
    client.delete(url)

    events = [e for e in stored_events(container) if str(getattr(e, "originator_id", "")) == created["id"]]

    assert [type(e) for e in events] == [EndpointCreated, EndpointUpdated, EndpointDeleted]
    assert events[1].changes == {"is_active": False}
    assert {e.actor for e in events} == {"tester"}  # the name of the API key used
    assert events[0].phone_number == "+919876543210"
    assert events[0].inbound_agent_name == "support-agent"


def test_an_endpoint_may_use_any_provider_whichever_is_active(client: TestClient) -> None:
    configure(client, TWILIO)

    for provider, number in (("twilio", "+15551234567"), ("exotel", "+919876543210"), ("vobiz", "+919876543211")):
        created = create(client, phone_number=number, provider=provider, inbound_agent_name="agent-1")
        assert created["provider"] == provider
        assert created["inbound_webhook_url"] == f"https://your-domain.com/telephony/{provider}/inbound/agent-1"
