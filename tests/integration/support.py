"""Shared data and helpers of the HTTP integration tests: the seed's examples and small assertions."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from litestar.testing import TestClient

from service.container import Container

TELEPHONY = "/api/settings/telephony"
ENDPOINTS = "/api/settings/endpoints"

TWILIO_SID = "AC" + "0123456789abcdef" * 2

# The seed's provider examples (the Twilio sid made valid: the seed shows a placeholder).
TWILIO = {
    "provider": "twilio",
    "public_base_url": "https://your-domain.com",
    "twilio_account_sid": TWILIO_SID,
    "twilio_auth_token": "your_auth_token",
    "twilio_phone_number": "+15551234567",
    "twilio_max_concurrent": 10,
}
EXOTEL = {
    "provider": "exotel",
    "public_base_url": "https://your-domain.com",
    "exotel_account_sid": "your_sid",
    "exotel_api_key": "your_api_key",
    "exotel_api_token": "your_api_token",
    "exotel_phone_number": "+919876543210",
    "exotel_api_base": "https://api.exotel.com",
    "exotel_max_concurrent": 5,
}
VOBIZ = {
    "provider": "vobiz",
    "public_base_url": "https://your-domain.com",
    "vobiz_auth_id": "your_auth_id",
    "vobiz_auth_token": "your_auth_token",
    "vobiz_phone_number": "+919876543210",
    "vobiz_max_concurrent": 5,
}

SEED_DEFAULTS = {
    "provider": "twilio",
    "public_base_url": None,
    "twilio_account_sid": None,
    "twilio_auth_token": None,
    "twilio_phone_number": None,
    "twilio_max_concurrent": 10,
    "exotel_account_sid": None,
    "exotel_api_key": None,
    "exotel_api_token": None,
    "exotel_phone_number": None,
    "exotel_api_base": None,
    "exotel_max_concurrent": 5,
    "vobiz_auth_id": None,
    "vobiz_auth_token": None,
    "vobiz_phone_number": None,
    "vobiz_max_concurrent": 5,
}
SECRET_FIELDS = ("twilio_auth_token", "exotel_api_key", "exotel_api_token", "vobiz_auth_token")

# The seed's endpoint example.
SUPPORT_LINE = {
    "phone_number": "+919876543210",
    "provider": "exotel",
    "inbound_agent_name": "support-agent",
    "outbound_agent_name": "sales-agent",
    "label": "Main support line",
}
ENDPOINT_KEYS = {
    "id",
    "phone_number",
    "provider",
    "inbound_agent_name",
    "outbound_agent_name",
    "label",
    "is_active",
    "created_at",
    "updated_at",
    "inbound_webhook_url",
}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


def masked(secret: str) -> str:
    return "****" + secret[-4:]


def expected_view(*updates: dict[str, Any]) -> dict[str, Any]:
    """The GET body after ``updates`` were applied to the seed defaults (secrets masked)."""
    view = dict(SEED_DEFAULTS)
    for update in updates:
        view.update(update)
    return {name: masked(value) if name in SECRET_FIELDS and value else value for name, value in view.items()}


def configure(client: TestClient, *updates: dict[str, Any]) -> dict[str, Any]:
    """PUT each update in turn (each must succeed) and return the last response body."""
    body: dict[str, Any] = {}
    for update in updates:
        response = client.put(TELEPHONY, json=update)
        assert response.status_code == 200, response.text
        body = response.json()
    return body


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post(ENDPOINTS, json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def endpoint_url(endpoint_id: str | UUID) -> str:
    return f"{ENDPOINTS}/{endpoint_id}"


def head(container: Container) -> int:
    """The store's last notification id (0 when empty): unchanged means no event was stored."""
    return container.app.recorder.max_notification_id() or 0


def stored_events(container: Container) -> list[Any]:
    notifications = container.app.recorder.select_notifications(start=1, limit=100_000)
    return [container.app.mapper.to_domain_event(n) for n in notifications]


def assert_validation_error(response: Any, *fields: str) -> list[dict[str, str]]:
    """422 with ``{"detail": str, "errors": [{"field", "message"}]}`` naming exactly ``fields`` (in any order)."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    errors = body["errors"]
    assert errors
    for error in errors:
        assert set(error) == {"field", "message"}
        assert isinstance(error["message"], str)
        assert error["message"]
    assert sorted(error["field"] for error in errors) == sorted(fields), body
    return errors


def assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body
