"""With PostgreSQL unreachable the service keeps answering: reads from its read model, 503 with a detail for
writes and for /health/ready, and it recovers by itself when the database returns, losing nothing acknowledged."""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from service.settings import Settings
from tests.clients import api_client
from tests.nats_support import wait_until
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres


def through(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username or 'postgres'}{':' + parts.password if parts.password else ''}@127.0.0.1:{proxy.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def test_an_unreachable_database_gives_503_quickly_and_the_service_recovers(tmp_path, postgres_url: str) -> None:
    upstream = urlsplit(postgres_url)
    with TcpProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432) as proxy:
        settings = Settings(
            data_dir=tmp_path, database_url=through(proxy, postgres_url), nats_url="off", poll_interval=0.2
        )
        with api_client(settings) as client:
            first = client.post("/api/settings/endpoints", json={"phone_number": "+15557770001", "provider": "twilio"})
            assert first.status_code == 201
            assert client.get("/health/ready").status_code == 200

            proxy.cut()
            started = time.monotonic()
            refused = client.post(
                "/api/settings/endpoints", json={"phone_number": "+15557770002", "provider": "twilio"}
            )
            assert refused.status_code == 503
            assert "unavailable" in refused.json()["detail"]
            elapsed = time.monotonic() - started
            assert elapsed < 3, f"a write with the database away took {elapsed:.1f} s to fail"
            ready = client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["store"] == "unreachable"
            listed = client.get("/api/settings/endpoints")  # reads keep working from the read model
            assert listed.status_code == 200
            assert [e["phone_number"] for e in listed.json()] == ["+15557770001"]

            proxy.restore()
            wait_until(lambda: client.get("/health/ready").status_code == 200, what="ready again")
            again = client.post("/api/settings/endpoints", json={"phone_number": "+15557770002", "provider": "twilio"})
            assert again.status_code == 201
            numbers = [e["phone_number"] for e in client.get("/api/settings/endpoints").json()]
    assert numbers == ["+15557770001", "+15557770002"]
