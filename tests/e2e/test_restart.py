"""Durability across process lifetimes: what a server acknowledged is there after a graceful restart (on the
SQLite default and on PostgreSQL) and after a SIGKILL.

The read models live in memory; a new process rebuilds them from the event store, so comparing the full GET
responses before and after a restart checks both the store and the rebuild.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ServiceProcess
from tests.seed import TWILIO_SID

TELEPHONY = "/api/settings/telephony"
ENDPOINTS = "/api/settings/endpoints"


def ok(response: httpx.Response, status: int = 200) -> httpx.Response:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response


def write_history(api: httpx.Client) -> None:
    """Provider settings changed twice, endpoints created, one updated, one deleted."""
    ok(
        api.put(
            TELEPHONY,
            json={
                "public_base_url": "https://voice.example.com",
                "twilio_account_sid": TWILIO_SID,
                "twilio_auth_token": "tw-secret-9876",
                "twilio_phone_number": "+15550001111",
            },
        )
    )
    ok(
        api.put(
            TELEPHONY,
            json={
                "provider": "exotel",
                "exotel_account_sid": "exotel-sid",
                "exotel_api_key": "exotel-key-1111",
                "exotel_api_token": "exotel-token-2222",
                "exotel_max_concurrent": 7,
            },
        )
    )
    created = [
        ok(api.post(ENDPOINTS, json=body), 201).json()
        for body in (
            {"phone_number": "+15551234567", "provider": "twilio", "inbound_agent_name": "support-agent"},
            {"phone_number": "+919876543210", "provider": "exotel", "outbound_agent_name": "sales-agent"},
            {"phone_number": "+919876543211", "provider": "vobiz", "label": "to be deleted"},
            {"phone_number": "+15551234568", "provider": "twilio", "is_active": False},
        )
    ]
    ok(api.put(f"{ENDPOINTS}/{created[1]['id']}", json={"inbound_agent_name": "night-shift", "label": "updated"}))
    ok(api.delete(f"{ENDPOINTS}/{created[2]['id']}"), 204)


def snapshot(api: httpx.Client) -> dict[str, object]:
    """Everything a client can read, in full."""
    provider = ok(api.get(TELEPHONY)).json()
    listed = ok(api.get(ENDPOINTS))
    endpoints = listed.json()
    return {
        "provider": provider,
        "endpoints": endpoints,
        "total": listed.headers["x-total-count"],
        "each": {item["id"]: ok(api.get(f"{ENDPOINTS}/{item['id']}")).json() for item in endpoints},
        "by_agent": ok(api.get(ENDPOINTS, params={"agent": "night-shift"})).json(),
    }


def assert_history_survives_restart(server: ServiceProcess) -> dict[str, object]:
    assert server.http is not None
    write_history(server.http)
    before = snapshot(server.http)
    assert before["total"] == "3"
    assert [e["phone_number"] for e in before["endpoints"]] == ["+15551234567", "+919876543210", "+15551234568"]

    status = server.stop()
    # uvicorn finishes its graceful shutdown, then re-raises the SIGTERM it caught.
    assert status in (0, -signal.SIGTERM), f"exit status {status}:\n{server.output()}"
    assert "Application shutdown complete" in server.output()
    assert not server.left_children, "a graceful stop must not leave processes of the server running"
    server.start()

    assert server.http is not None
    after = snapshot(server.http)
    assert after == before
    # The rebuilt state is live, not a copy: the deleted number is free, the others still conflict.
    ok(server.http.post(ENDPOINTS, json={"phone_number": "+919876543211", "provider": "vobiz"}), 201)
    ok(server.http.post(ENDPOINTS, json={"phone_number": "+1 555 123 4567", "provider": "twilio"}), 409)
    return before


def test_everything_written_is_there_after_a_restart_on_sqlite(
    service_factory: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = service_factory(data_dir=data_dir)

    assert_history_survives_restart(server)

    assert (data_dir / "events.db").is_file()
    assert f"sqlite:///{data_dir / 'events.db'}" in server.output()


@pytest.mark.postgres
def test_everything_written_is_there_after_a_restart_on_postgres(
    service_factory: Callable[..., ServiceProcess], postgres_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = service_factory(data_dir=data_dir, database_url=postgres_url)
    assert "store: PostgreSQL" in server.output()

    assert_history_survives_restart(server)

    assert not (data_dir / "events.db").exists(), "with TELEPHONY_DATABASE_URL set, no SQLite file is written"


def test_acknowledged_writes_survive_a_sigkill(service_factory: Callable[..., ServiceProcess]) -> None:
    server = service_factory()
    assert server.http is not None
    write_history(server.http)
    # Acknowledged right before the crash: no time to flush anything after the response.
    last = ok(server.http.post(ENDPOINTS, json={"phone_number": "+15559998888", "provider": "twilio"}), 201).json()
    before = snapshot(server.http)

    status = server.kill()
    assert status == -signal.SIGKILL
    server.start()

    assert server.http is not None
    assert snapshot(server.http) == before
    assert ok(server.http.get(f"{ENDPOINTS}/{last['id']}")).json() == last
    # The store is usable after the crash: new writes are accepted and survive another crash.
    added = ok(server.http.post(ENDPOINTS, json={"phone_number": "+15559998889", "provider": "twilio"}), 201).json()
    server.kill()
    server.start()
    assert server.http is not None
    assert ok(server.http.get(f"{ENDPOINTS}/{added['id']}")).json() == added
    assert ok(server.http.get(ENDPOINTS)).headers["x-total-count"] == "5"
