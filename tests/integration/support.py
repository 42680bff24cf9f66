"""Shared helpers of the HTTP integration tests: routes, expected views and small assertions.

The seed's examples themselves are in ``tests.seed``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from litestar.testing import TestClient

from service.container import Container
from service.settings import Settings
from tests.seed import SEED_DEFAULTS

T = TypeVar("T")

TELEPHONY = "/api/settings/telephony"
ENDPOINTS = "/api/settings/endpoints"

SECRET_FIELDS = ("twilio_auth_token", "exotel_api_key", "exotel_api_token", "vobiz_auth_token")

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


def all_at_once(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``work(0..count-1)`` on ``count`` threads released together; results or exceptions, in order."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T | BaseException:
        barrier.wait(timeout=10)
        try:
            return work(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def sqlite_only(tmp_path: Path) -> Settings:
    """The ``settings`` of a module whose behaviour is decided before storage (authorization, input validation):
    the SQLite backend alone, instead of once per backend."""
    return Settings(data_dir=tmp_path, nats_url="off", poll_interval=0.2)
