"""A walk through every route of the real server on the embedded default (SQLite in the data dir), over HTTP.

Each test starts its own server on a fresh data dir and tells one story: the provider settings, the life of an
endpoint, the list and its filters, the error statuses, the published OpenAPI document.
"""

from __future__ import annotations

import re
import uuid

import httpx

from tests.seed import ENDPOINT_RESPONSE_FIELDS, SEED_DEFAULTS

TELEPHONY = "/api/settings/telephony"
ENDPOINTS = "/api/settings/endpoints"

TWILIO_SID = "AC0123456789abcdef0123456789ABCDEF"
UTC_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


def assert_error(response: httpx.Response, status: int) -> dict:
    """The status, a JSON body with a ``detail`` string, and for 422 the per-field ``errors``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if status == 422:
        assert body["errors"]
        assert all(isinstance(e["field"], str) and isinstance(e["message"], str) for e in body["errors"])
    return body


def error_fields(response: httpx.Response) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


def store_position(api: httpx.Client) -> int:
    response = api.get("/health/ready")
    assert response.status_code == 200, response.text
    return response.json()["store_position"]


def configure_twilio(api: httpx.Client, base_url: str = "https://voice.example.com") -> dict:
    response = api.put(
        TELEPHONY,
        json={"public_base_url": base_url, "twilio_account_sid": TWILIO_SID, "twilio_auth_token": "tw-secret-9876"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def create_endpoint(api: httpx.Client, **fields: object) -> dict:
    response = api.post(ENDPOINTS, json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def test_health_routes_answer(api: httpx.Client) -> None:
    live = api.get("/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}

    ready = api.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    assert ready.json()["store"] == "ok"
    assert ready.json()["read_model_lag"] == 0
    assert ready.headers.get("x-request-id")


def test_openapi_document_lists_every_route(api: httpx.Client) -> None:
    response = api.get("/schema/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "telephony-settings"
    methods = {
        path: set(operations) & {"get", "put", "post", "delete", "patch"}
        for path, operations in document["paths"].items()
    }
    assert methods[TELEPHONY] == {"get", "put"}
    assert methods[ENDPOINTS] == {"get", "post"}
    assert methods[f"{ENDPOINTS}/{{endpoint_id}}"] == {"get", "put", "delete"}
    assert methods["/health/live"] == {"get"}
    assert methods["/health/ready"] == {"get"}
    # The seed's examples are published with the request bodies.
    assert "+919876543210" in response.text
    assert "support-agent" in response.text

    docs = api.get("/schema")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]


def test_provider_settings_start_at_the_seed_defaults_and_take_partial_updates(api: httpx.Client) -> None:
    before = api.get(TELEPHONY)
    assert before.status_code == 200
    assert before.json() == SEED_DEFAULTS

    # 422: after the merge the base URL and the active provider's credentials must be set; the body names them.
    incomplete = api.put(TELEPHONY, json={"public_base_url": "https://voice.example.com"})
    assert_error(incomplete, 422)
    assert error_fields(incomplete) == {"twilio_account_sid", "twilio_auth_token"}
    assert api.get(TELEPHONY).json() == SEED_DEFAULTS

    # 200: the GET shape, normalised (no trailing slash, E.164) and with the secret masked.
    updated = api.put(
        TELEPHONY,
        json={
            "public_base_url": "https://voice.example.com/",
            "twilio_account_sid": TWILIO_SID,
            "twilio_auth_token": "tw-secret-9876",
            "twilio_phone_number": "+1 (555) 123-4567",
            "twilio_max_concurrent": 20,
        },
    )
    assert updated.status_code == 200, updated.text
    expected = {
        **SEED_DEFAULTS,
        "public_base_url": "https://voice.example.com",
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": "****9876",
        "twilio_phone_number": "+15551234567",
        "twilio_max_concurrent": 20,
    }
    assert updated.json() == expected
    assert api.get(TELEPHONY).json() == expected

    # A client can PUT back what it GOT: the masked secret keeps the stored one, and nothing changes.
    position = store_position(api)
    unchanged = api.put(TELEPHONY, json=api.get(TELEPHONY).json())
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json() == expected
    assert store_position(api) == position, "a PUT that changes nothing must store no event"

    # Switching provider needs that provider's credentials; with them, the switch is stored.
    assert_error(api.put(TELEPHONY, json={"provider": "exotel"}), 422)
    exotel = api.put(
        TELEPHONY,
        json={
            "provider": "exotel",
            "exotel_account_sid": "exotel-sid",
            "exotel_api_key": "exotel-key-1111",
            "exotel_api_token": "exotel-token-2222",
            "exotel_api_base": "https://api.exotel.com/",
        },
    )
    assert exotel.status_code == 200, exotel.text
    assert exotel.json()["provider"] == "exotel"
    assert exotel.json()["exotel_api_key"] == "****1111"
    assert exotel.json()["exotel_api_token"] == "****2222"
    assert exotel.json()["exotel_api_base"] == "https://api.exotel.com"
    assert exotel.json()["twilio_auth_token"] == "****9876"  # left out: kept

    # null clears a credential of a provider that is not active.
    cleared = api.put(TELEPHONY, json={"twilio_auth_token": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["twilio_auth_token"] is None
    assert api.get(TELEPHONY).json() == cleared.json()


def test_provider_settings_reject_what_the_rules_forbid(api: httpx.Client) -> None:
    configure_twilio(api)
    good = api.get(TELEPHONY).json()
    rejected = {
        "http base url": {"public_base_url": "http://voice.example.com"},
        "loopback base url": {"public_base_url": "https://127.0.0.1"},
        "localhost base url": {"public_base_url": "https://localhost/x"},
        "base url with query": {"public_base_url": "https://voice.example.com/?a=1"},
        "bad account sid": {"twilio_account_sid": "AC123"},
        "concurrency 0": {"twilio_max_concurrent": 0},
        "concurrency 1001": {"twilio_max_concurrent": 1001},
        "unknown provider": {"provider": "plivo"},
        "unknown field": {"colour": "blue"},
        "phone without +": {"twilio_phone_number": "5551234567"},
        "array body": [],
    }
    for case, body in rejected.items():
        response = api.put(TELEPHONY, json=body)
        assert response.status_code == 422, f"{case}: {response.status_code} {response.text}"
        assert_error(response, 422)

    malformed = api.put(TELEPHONY, content=b'{"provider": ', headers={"content-type": "application/json"})
    assert_error(malformed, 400)
    assert api.get(TELEPHONY).json() == good


def test_endpoint_lifecycle_over_every_route(api: httpx.Client) -> None:
    configure_twilio(api)

    # POST: 201, a Location that serves the same body, the number in E.164, the webhook URL computed.
    created = api.post(
        ENDPOINTS,
        json={
            "phone_number": "+91 98765-43210",
            "provider": "exotel",
            "inbound_agent_name": "support-agent",
            "outbound_agent_name": "sales-agent",
            "label": "Main support line",
        },
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert set(endpoint) == ENDPOINT_RESPONSE_FIELDS
    endpoint_id = str(uuid.UUID(endpoint["id"]))
    assert created.headers["location"] == f"{ENDPOINTS}/{endpoint_id}"
    assert endpoint["phone_number"] == "+919876543210"
    assert endpoint["is_active"] is True
    assert UTC_SECONDS.match(endpoint["created_at"])
    assert UTC_SECONDS.match(endpoint["updated_at"])
    assert endpoint["inbound_webhook_url"] == "https://voice.example.com/telephony/exotel/inbound/support-agent"

    one = api.get(created.headers["location"])
    assert one.status_code == 200
    assert one.json() == endpoint

    listed = api.get(ENDPOINTS)
    assert listed.status_code == 200
    assert listed.json() == [endpoint]
    assert listed.headers["x-total-count"] == "1"

    # 409: the same number in another spelling.
    assert_error(api.post(ENDPOINTS, json={"phone_number": "+919876543210", "provider": "vobiz"}), 409)

    # PUT: a partial update; null clears; the answer and later GETs agree.
    updated = api.put(f"{ENDPOINTS}/{endpoint_id}", json={"outbound_agent_name": None, "is_active": False})
    assert updated.status_code == 200, updated.text
    assert updated.json() == {
        **endpoint,
        "outbound_agent_name": None,
        "is_active": False,
        "updated_at": updated.json()["updated_at"],
    }
    assert updated.json()["updated_at"] >= endpoint["updated_at"]
    assert api.get(f"{ENDPOINTS}/{endpoint_id}").json() == updated.json()

    position = store_position(api)
    again = api.put(f"{ENDPOINTS}/{endpoint_id}", json={"is_active": False})
    assert again.status_code == 200
    assert again.json() == updated.json()
    assert store_position(api) == position, "an update that changes nothing must store no event"

    # 422: number and provider are fixed; the message says what to do instead.
    fixed = api.put(f"{ENDPOINTS}/{endpoint_id}", json={"phone_number": "+15551234567"})
    assert_error(fixed, 422)
    assert error_fields(fixed) == {"phone_number"}
    assert "delete" in fixed.json()["detail"]
    assert error_fields(api.put(f"{ENDPOINTS}/{endpoint_id}", json={"provider": "twilio"})) == {"provider"}

    # The webhook URL follows a later change of public_base_url.
    configure_twilio(api, base_url="https://calls.example.org/v2")
    moved = api.get(f"{ENDPOINTS}/{endpoint_id}").json()
    assert moved["inbound_webhook_url"] == "https://calls.example.org/v2/telephony/exotel/inbound/support-agent"

    # DELETE: 204 with no body; then 404 for GET, PUT and DELETE; the number is free again.
    deleted = api.delete(f"{ENDPOINTS}/{endpoint_id}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(api.get(f"{ENDPOINTS}/{endpoint_id}"), 404)
    assert_error(api.put(f"{ENDPOINTS}/{endpoint_id}", json={"label": "gone"}), 404)
    assert_error(api.delete(f"{ENDPOINTS}/{endpoint_id}"), 404)
    assert api.get(ENDPOINTS).json() == []
    assert api.get(ENDPOINTS).headers["x-total-count"] == "0"

    recreated = create_endpoint(api, phone_number="+919876543210", provider="vobiz")
    assert recreated["id"] != endpoint_id
    assert recreated["inbound_webhook_url"] is None  # no inbound agent yet


def test_endpoint_list_filters_and_pages_in_creation_order(api: httpx.Client) -> None:
    configure_twilio(api)
    first = create_endpoint(api, phone_number="+15551234567", provider="twilio", inbound_agent_name="alpha")
    second = create_endpoint(api, phone_number="+15551234568", provider="exotel", outbound_agent_name="alpha")
    third = create_endpoint(api, phone_number="+919876543210", provider="exotel", is_active=False, label="spare")
    fourth = create_endpoint(api, phone_number="+919876543211", provider="vobiz", inbound_agent_name="beta")

    def ids(query: dict[str, str | int]) -> tuple[list[str], str]:
        response = api.get(ENDPOINTS, params=query)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()], response.headers["x-total-count"]

    assert ids({}) == ([first["id"], second["id"], third["id"], fourth["id"]], "4")
    assert ids({"provider": "exotel"}) == ([second["id"], third["id"]], "2")
    assert ids({"is_active": "false"}) == ([third["id"]], "1")
    assert ids({"is_active": "true", "provider": "exotel"}) == ([second["id"]], "1")
    assert ids({"phone_number": "+1 555-123-4568"}) == ([second["id"]], "1")
    assert ids({"agent": "alpha"}) == ([first["id"], second["id"]], "2")
    assert ids({"agent": "nobody"}) == ([], "0")
    assert ids({"page": 1, "page_size": 3}) == ([first["id"], second["id"], third["id"]], "4")
    assert ids({"page": 2, "page_size": 3}) == ([fourth["id"]], "4")
    assert ids({"page": 3, "page_size": 3}) == ([], "4")
    assert ids({"provider": "exotel", "page": 2, "page_size": 1}) == ([third["id"]], "2")

    for bad in ({"page": 0}, {"page_size": 0}, {"page_size": 501}, {"provider": "plivo"}, {"phone_number": "555"}):
        assert_error(api.get(ENDPOINTS, params=bad), 422)


def test_endpoint_errors_have_the_documented_status(api: httpx.Client) -> None:
    # 404: unknown and malformed ids alike, on every route that takes an id.
    for endpoint_id in (str(uuid.uuid4()), "not-a-uuid"):
        assert_error(api.get(f"{ENDPOINTS}/{endpoint_id}"), 404)
        assert_error(api.put(f"{ENDPOINTS}/{endpoint_id}", json={"label": "x"}), 404)
        assert_error(api.delete(f"{ENDPOINTS}/{endpoint_id}"), 404)

    # 400: a body that is not JSON at all.
    for method in ("POST", "PUT"):
        url = ENDPOINTS if method == "POST" else f"{ENDPOINTS}/{uuid.uuid4()}"
        response = api.request(method, url, content=b"{not json", headers={"content-type": "application/json"})
        assert_error(response, 400)

    # 422: each rule of the create body, naming the field.
    rejected = {
        "phone_number": [
            {"provider": "twilio"},
            {"phone_number": "5551234567", "provider": "twilio"},
            {"phone_number": "+1555", "provider": "twilio"},
            {"phone_number": "+1 555 CALL NOW", "provider": "twilio"},
        ],
        "provider": [{"phone_number": "+15551234567"}, {"phone_number": "+15551234567", "provider": "plivo"}],
        "inbound_agent_name": [
            {"phone_number": "+15551234567", "provider": "twilio", "inbound_agent_name": "has space"},
            {"phone_number": "+15551234567", "provider": "twilio", "inbound_agent_name": "a" * 65},
        ],
        "outbound_agent_name": [{"phone_number": "+15551234567", "provider": "twilio", "outbound_agent_name": "-x"}],
        "label": [{"phone_number": "+15551234567", "provider": "twilio", "label": "x" * 101}],
        "colour": [{"phone_number": "+15551234567", "provider": "twilio", "colour": "blue"}],
    }
    for field, bodies in rejected.items():
        for body in bodies:
            response = api.post(ENDPOINTS, json=body)
            assert response.status_code == 422, f"{body}: {response.status_code} {response.text}"
            assert field in error_fields(response), f"{body}: {response.text}"

    # None of that stored anything; the seed's own examples are accepted.
    assert api.get(ENDPOINTS).json() == []
    assert create_endpoint(api, phone_number="+15551234567", provider="twilio")["phone_number"] == "+15551234567"
    assert create_endpoint(api, phone_number="+919876543210", provider="exotel")["phone_number"] == "+919876543210"
    label = create_endpoint(api, phone_number="+919876543211", provider="vobiz", label="x" * 100)["label"]
    assert label == "x" * 100
