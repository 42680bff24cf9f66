"""JSON types are taken literally (no "42" for 42, no "false" for false), error messages never echo a submitted
value, and hostile bodies (absurd nesting, oversized) get a 4xx, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import TestClient

from service.container import Container
from service.settings import Settings
from tests.integration.support import ENDPOINTS, TELEPHONY, assert_error, assert_validation_error, head, sqlite_only
from tests.seed import TWILIO


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Bodies are refused before any storage is touched: SQLite alone (storage tiers run on both)."""
    return sqlite_only(tmp_path)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"vobiz_max_concurrent": "42"}, "vobiz_max_concurrent"),
        ({"exotel_max_concurrent": 12.5}, "exotel_max_concurrent"),
        ({"twilio_max_concurrent": True}, "twilio_max_concurrent"),
    ],
)
def test_a_number_sent_as_another_json_type_is_rejected(
    client: TestClient, container: Container, body: dict, field: str
) -> None:
    before = head(container)
    assert_validation_error(client.put(TELEPHONY, json=body), field)
    assert head(container) == before


@pytest.mark.parametrize("value", ["false", "true", 1, 0])
def test_is_active_must_be_a_json_boolean_on_create(client: TestClient, value: object) -> None:
    response = client.post(ENDPOINTS, json={"phone_number": "+15551234567", "provider": "twilio", "is_active": value})
    assert_validation_error(response, "is_active")
    assert client.get(ENDPOINTS).json() == []


@pytest.mark.parametrize("value", ["true", 1])
def test_is_active_must_be_a_json_boolean_on_update(client: TestClient, value: object) -> None:
    created = client.post(ENDPOINTS, json={"phone_number": "+15551234567", "provider": "twilio"}).json()
    response = client.put(f"{ENDPOINTS}/{created['id']}", json={"is_active": value, "label": "changed"})
    assert_validation_error(response, "is_active")
    assert client.get(f"{ENDPOINTS}/{created['id']}").json()["label"] is None  # nothing half-applied


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", TELEPHONY, {"provider": "sk_live_TOPSECRET123"}),
        ("POST", ENDPOINTS, {"phone_number": "+15551234567", "provider": "sk_live_TOPSECRET123"}),
        ("GET", f"{ENDPOINTS}?provider=sk_live_TOPSECRET123", None),
    ],
)
def test_an_unknown_provider_is_named_without_echoing_the_value(
    client: TestClient, method: str, path: str, body: dict | None
) -> None:
    response = client.request(method, path, json=body)
    errors = assert_validation_error(response, "provider")
    assert "TOPSECRET" not in response.text
    assert "twilio, exotel, vobiz" in errors[0]["message"]


def test_absurdly_nested_json_is_a_client_error(client: TestClient) -> None:
    response = client.post(ENDPOINTS, content=b"[" * 5000 + b"]" * 5000, headers={"content-type": "application/json"})
    assert_error(response, 400)


def test_a_body_over_64_kib_is_refused_with_413(client: TestClient, container: Container) -> None:
    before = head(container)
    body = b'{"label": "' + b"x" * (64 * 1024) + b'"}'
    response = client.put(TELEPHONY, content=body, headers={"content-type": "application/json"})
    assert_error(response, 413)
    assert head(container) == before


@pytest.mark.parametrize(
    "url",
    ["https://127.1", "https://0x7f.0.0.1", "https://localhost.", "https://127.0.0.1.", "https://example.com:0"],
)
def test_loopback_spellings_of_the_public_base_url_are_rejected(client: TestClient, url: str) -> None:
    assert_validation_error(client.put(TELEPHONY, json={"public_base_url": url}), "public_base_url")


@pytest.mark.parametrize("field", ["inbound_agent_name", "outbound_agent_name"])
def test_an_agent_name_with_a_trailing_newline_is_rejected_on_create_and_update(client: TestClient, field: str) -> None:
    # "$" in the schema pattern also matches before a final newline; the name would end up inside a URL.
    body = {"phone_number": "+15559870001", "provider": "twilio", field: "support-agent\n"}
    assert_validation_error(client.post(ENDPOINTS, json=body), field)
    created = client.post(ENDPOINTS, json={"phone_number": "+15559870002", "provider": "twilio"}).json()
    assert_validation_error(client.put(f"{ENDPOINTS}/{created['id']}", json={field: "agent\n"}), field)
    assert client.get(f"{ENDPOINTS}/{created['id']}").json()[field] is None


def test_a_twilio_account_sid_with_a_trailing_newline_is_rejected(client: TestClient) -> None:
    response = client.put(TELEPHONY, json={"twilio_account_sid": "AC" + "0" * 32 + "\n"})
    assert_validation_error(response, "twilio_account_sid")


@pytest.mark.parametrize("escaped", ["\\u0000", "\\u001b[2J", "line\\nbreak", "\\u007f", "\\u0085"])
def test_a_control_character_in_a_label_is_refused_on_create_and_update(
    client: TestClient, container: Container, escaped: str
) -> None:
    body = b'{"phone_number": "+15551234567", "provider": "twilio", "label": "Main ' + escaped.encode() + b' line"}'
    before = head(container)

    created = client.post(ENDPOINTS, content=body, headers={"content-type": "application/json"})

    assert_validation_error(created, "label")
    assert head(container) == before
    endpoint = client.post(ENDPOINTS, json={"phone_number": "+15551234567", "provider": "twilio"}).json()
    updated = client.put(
        f"{ENDPOINTS}/{endpoint['id']}",
        content=b'{"label": "x' + escaped.encode() + b'"}',
        headers={"content-type": "application/json"},
    )
    assert_validation_error(updated, "label")
    assert client.get(f"{ENDPOINTS}/{endpoint['id']}").json()["label"] is None


def test_a_control_character_in_a_credential_is_refused(client: TestClient, container: Container) -> None:
    before = head(container)
    response = client.put(
        TELEPHONY,
        content=b'{"exotel_account_sid": "sid\\u0000", "vobiz_auth_token": "tok\\ten-long-enough"}',
        headers={"content-type": "application/json"},
    )
    assert_validation_error(response, "exotel_account_sid", "vobiz_auth_token")
    assert head(container) == before


def test_printable_unicode_in_a_label_is_kept(client: TestClient) -> None:
    created = client.post(
        ENDPOINTS, json={"phone_number": "+15551234567", "provider": "twilio", "label": "Support — Zürich ☎"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["label"] == "Support — Zürich ☎"


def test_a_whole_number_written_with_a_fraction_is_an_integer_as_json_schema_says(
    client: TestClient, container: Container
) -> None:
    client.put(TELEPHONY, json=TWILIO).raise_for_status()

    response = client.put(
        TELEPHONY, content=b'{"exotel_max_concurrent": 12.0}', headers={"content-type": "application/json"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["exotel_max_concurrent"] == 12
    stored = container.app.load_provider().config.exotel_max_concurrent
    assert stored == 12
    assert type(stored) is int
