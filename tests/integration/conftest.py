from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from service.container import Container, build_container
from service.settings import Settings
from tests.clients import api_client


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = build_container(settings)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The whole HTTP API on the test's storage backend (the app builds and closes its own container)."""
    with api_client(settings) as test_client:
        yield test_client
