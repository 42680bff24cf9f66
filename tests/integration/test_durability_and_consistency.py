"""Restarts, read-your-writes, request ids, the OpenAPI document, and no 500 for anything a client sends."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from litestar.testing import TestClient

from events import EndpointCreated
from service.container import build_container
from service.read.queries import get_endpoint, get_provider_settings
from service.settings import Settings
from service.write.commands import Actor, NewEndpoint, UpdateProvider
from tests.clients import api_client
from tests.integration.support import (
    ENDPOINTS,
    TELEPHONY,
    configure,
    create,
    endpoint_url,
    expected_view,
    stored_events,
)
from tests.seed import EXOTEL, SUPPORT_LINE, TWILIO, VOBIZ


def _everything(client: TestClient) -> dict[str, Any]:
    endpoints = client.get(ENDPOINTS)
    return {
        "telephony": client.get(TELEPHONY).json(),
        "endpoints": endpoints.json(),
        "total": endpoints.headers["X-Total-Count"],
        "each": [client.get(endpoint_url(e["id"])).json() for e in endpoints.json()],
    }


def test_everything_written_before_a_restart_is_there_after_it(settings: Settings) -> None:
    with api_client(settings) as first:
        configure(first, VOBIZ, EXOTEL)
        kept = create(first, **SUPPORT_LINE)
        updated = create(first, phone_number="+15551234567", provider="twilio", outbound_agent_name="sales-agent")
        first.put(endpoint_url(updated["id"]), json={"label": "US line", "is_active": False})
        deleted = create(first, phone_number="+442071838750", provider="vobiz")
        first.delete(endpoint_url(deleted["id"]))
        before = _everything(first)

    with api_client(settings) as second:
        after = _everything(second)
        assert after == before
        assert after["telephony"] == expected_view(VOBIZ, EXOTEL)
        assert [e["id"] for e in after["endpoints"]] == [kept["id"], updated["id"]]
        assert after["endpoints"][1]["label"] == "US line"
        assert second.get(endpoint_url(deleted["id"])).status_code == 404
        # The restarted service keeps enforcing and extending what it found.
        assert second.post(ENDPOINTS, json={"phone_number": "+91 98765 43210", "provider": "twilio"}).status_code == 409
        again = create(second, phone_number="+44 20 7183 8750", provider="vobiz")
        assert configure(second, {"provider": "vobiz"})["provider"] == "vobiz"

    with api_client(settings) as third:
        assert [e["id"] for e in third.get(ENDPOINTS).json()] == [kept["id"], updated["id"], again["id"]]
        assert third.get(TELEPHONY).json() == expected_view(VOBIZ, EXOTEL, {"provider": "vobiz"})


def test_a_new_container_on_the_same_store_rebuilds_the_same_views(settings: Settings) -> None:
    first = build_container(settings)
    try:
        endpoint_id, _ = first.app.create_endpoint(
            NewEndpoint(phone_number="+919876543210", provider="exotel", inbound_agent_name="support-agent"), Actor()
        )
        first.app.update_provider(UpdateProvider(dict(EXOTEL)), Actor())
        first.read_model.catch_up()
        endpoint_before = get_endpoint(first.read_model, endpoint_id)
        provider_before = get_provider_settings(first.read_model)
        position_before = first.read_model.position
    finally:
        first.close()

    second = build_container(settings)
    try:
        assert second.read_model.position == position_before
        assert get_endpoint(second.read_model, endpoint_id) == endpoint_before
        assert get_provider_settings(second.read_model) == provider_before
        assert endpoint_before is not None
        assert endpoint_before.inbound_webhook_url == "https://your-domain.com/telephony/exotel/inbound/support-agent"
    finally:
        second.close()


def test_every_command_response_is_already_visible_to_the_next_get(settings: Settings) -> None:
    # No background polling to help: only the command's own catch-up can make its change visible.
    quiet = dataclasses.replace(settings, poll_interval=3600)
    with api_client(quiet) as client:
        for update in (TWILIO, EXOTEL, {"public_base_url": "https://voice.example.org"}, {"provider": "twilio"}):
            response = client.put(TELEPHONY, json=update)
            assert client.get(TELEPHONY).json() == response.json()

        for i in range(5):
            created = client.post(ENDPOINTS, json={**SUPPORT_LINE, "phone_number": f"+9198765432{i:02d}"})
            assert created.status_code == 201
            assert client.get(created.headers["Location"]).json() == created.json()
            assert client.get(ENDPOINTS).json()[-1] == created.json()

            url = endpoint_url(created.json()["id"])
            updated = client.put(url, json={"label": f"line {i}", "inbound_agent_name": f"agent-{i}"})
            assert client.get(url).json() == updated.json()
            assert client.get(ENDPOINTS, params={"agent": f"agent-{i}"}).json() == [updated.json()]

            if i % 2:
                assert client.delete(url).status_code == 204
                assert client.get(url).status_code == 404
                assert client.get(ENDPOINTS, params={"phone_number": created.json()["phone_number"]}).json() == []

        assert client.get(ENDPOINTS).headers["X-Total-Count"] == "3"


def test_a_change_written_by_another_process_reaches_the_read_model(settings: Settings) -> None:
    with api_client(settings) as client:
        other = build_container(settings)
        try:
            endpoint_id, _ = other.app.create_endpoint(
                NewEndpoint(phone_number="+15551234567", provider="twilio"), Actor(name="other-replica")
            )
        finally:
            other.close()
        # A command on this instance catches up with everything stored before its own event.
        created = create(client, phone_number="+15551234568", provider="twilio")

        assert [e["id"] for e in client.get(ENDPOINTS).json()] == [str(endpoint_id), created["id"]]
        assert client.post(ENDPOINTS, json={"phone_number": "+1 555 123 4567", "provider": "vobiz"}).status_code == 409


REQUESTS = [
    ("GET", TELEPHONY, None, 200),
    ("PUT", TELEPHONY, {"provider": "plivo"}, 422),
    ("POST", ENDPOINTS, SUPPORT_LINE, 201),
    ("POST", ENDPOINTS, SUPPORT_LINE, 409),
    ("GET", f"{ENDPOINTS}/{uuid.UUID(int=1)}", None, 404),
    ("POST", ENDPOINTS, b"{", 400),
]


def test_a_given_request_id_is_echoed_and_a_missing_one_is_generated(client: TestClient) -> None:
    def send(method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
        if isinstance(body, bytes):
            return client.request(method, path, content=body, headers={**headers, "Content-Type": "application/json"})
        return client.request(method, path, json=body, headers=headers)

    seen: set[str] = set()
    for method, path, body, status in REQUESTS:
        given = send(method, path, body, {"X-Request-ID": "req-2024.abc_XYZ:42"})
        assert given.status_code == status, (method, path)
        assert given.headers["X-Request-ID"] == "req-2024.abc_XYZ:42"

        generated = send(method, path, body, {})
        assert generated.headers["X-Request-ID"]
        assert generated.headers["X-Request-ID"] not in seen
        seen.add(generated.headers["X-Request-ID"])


def test_a_stored_event_records_the_request_id_and_the_key_name_as_actor(
    client: TestClient, settings: Settings
) -> None:
    created = client.post(ENDPOINTS, json=SUPPORT_LINE, headers={"X-Request-ID": "trace-0001"}).json()

    store = build_container(settings)
    try:
        events = [e for e in stored_events(store) if isinstance(e, EndpointCreated)]
    finally:
        store.close()
    assert [(str(e.originator_id), e.request_id, e.actor) for e in events] == [(created["id"], "trace-0001", "tester")]


def test_the_openapi_document_describes_every_route_with_the_seed_examples(client: TestClient) -> None:
    response = client.get("/schema/openapi.json")

    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    assert {"get", "put"} <= set(paths[TELEPHONY])
    assert {"get", "post"} <= set(paths[ENDPOINTS])
    one = next(path for path in paths if path.startswith(f"{ENDPOINTS}/{{"))
    assert {"get", "put", "delete"} <= set(paths[one])
    text = response.text
    for value in ("+919876543210", "support-agent", "Main support line", "https://api.exotel.com", "your_auth_id"):
        assert value in text
    assert client.get("/schema").status_code == 200


def test_nothing_a_client_can_send_causes_a_server_error(client: TestClient) -> None:
    configure(client, TWILIO)
    existing = create(client, **SUPPORT_LINE)
    weird_values: list[Any] = [None, True, 0, -1, 2**70, 1.5e308, "", " ", "\u0000", "é" * 600, [], {}, [1, {"a": 2}]]
    bodies: list[Any] = [None, [], "text", 42, {"": 1}, {"provider": {"$ne": 1}}]
    for field in ("provider", "public_base_url", "twilio_account_sid", "twilio_auth_token", "twilio_max_concurrent"):
        bodies += [{field: value} for value in weird_values]
    for body in bodies:
        assert client.put(TELEPHONY, json=body).status_code < 500, body
    for field in ("phone_number", "provider", "inbound_agent_name", "label", "is_active"):
        for value in weird_values:
            body = {**SUPPORT_LINE, "phone_number": "+15551234567", field: value}
            assert client.post(ENDPOINTS, json=body).status_code < 500, body
            assert client.put(endpoint_url(existing["id"]), json={field: value}).status_code < 500, body
    for raw in (b"\xff\xfe", b"{" * 5000, b'{"a": 1}{', b"1e999", b'"\\ud800"'):
        headers = {"Content-Type": "application/json"}
        assert client.put(TELEPHONY, content=raw, headers=headers).status_code < 500, raw
        assert client.post(ENDPOINTS, content=raw, headers=headers).status_code < 500, raw
    for path in (f"{ENDPOINTS}/%00", f"{ENDPOINTS}/{'x' * 5000}", f"{ENDPOINTS}?page=99999999999999999999"):
        assert client.get(path).status_code < 500, path
        assert client.delete(path).status_code < 500, path
