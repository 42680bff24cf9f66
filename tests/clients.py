"""The HTTP API under test, with an API key: every test client sends ``TEST_API_KEY`` (all scopes) unless a test
asks for another key."""

from __future__ import annotations

from dataclasses import replace

from litestar.testing import TestClient

from service.app import create_app
from service.settings import Settings

TEST_API_KEY = "test-key-0123456789abcdef"
TEST_API_KEYS = f"tester:{TEST_API_KEY}:*"
AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


def api_client(settings: Settings, key: str | None = TEST_API_KEY) -> TestClient:
    """A TestClient of the whole app on ``settings`` (given the test keys when it has none), sending ``key``."""
    if settings.api_keys is None:
        settings = replace(settings, api_keys=TEST_API_KEYS)
    client = TestClient(create_app(settings))
    if key is not None:
        client.headers["Authorization"] = f"Bearer {key}"
    return client
