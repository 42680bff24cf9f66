"""Replicas on one PostgreSQL see each other's writes at once (LISTEN/NOTIFY), and by polling when the listener is
cut off. The follower's poll interval is set far beyond the test's limits, so only a notification can explain a change
seen in time."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from service.settings import Settings
from tests.clients import api_client
from tests.nats_support import wait_until

CHANNEL = "telephonysettings_events"  # eventsourcing's channel for the application TelephonySettings

pytestmark = pytest.mark.postgres

ENDPOINTS = "/api/settings/endpoints"


def _replica(url: str, tmp_path: Path, name: str, poll_interval: float) -> Settings:
    return Settings(data_dir=tmp_path / name, database_url=url, nats_url="off", poll_interval=poll_interval)


def _listeners(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query = %s", (f'LISTEN "{CHANNEL}"',)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_write_on_one_replica_is_visible_on_the_other_well_within_a_second(postgres_url: str, tmp_path: Path) -> None:
    with (
        api_client(_replica(postgres_url, tmp_path, "a", poll_interval=60)) as a,
        api_client(_replica(postgres_url, tmp_path, "b", poll_interval=60)) as b,
    ):
        wait_until(lambda: _listeners(postgres_url) >= 2, what="both replicas listening")
        delays = []
        for i in range(20):
            writer, reader = (a, b) if i % 2 == 0 else (b, a)
            created = writer.post(ENDPOINTS, json={"phone_number": f"+1555000{i:04d}", "provider": "twilio"})
            assert created.status_code == 201
            url = f"{ENDPOINTS}/{created.json()['id']}"
            started = time.monotonic()
            wait_until(lambda url=url, reader=reader: reader.get(url).status_code == 200, timeout=5, what="seen")
            delays.append(time.monotonic() - started)
        assert max(delays) < 1.0, delays  # the poll (60 s) cannot have done it
        assert len(a.get(ENDPOINTS).json()) == len(b.get(ENDPOINTS).json()) == 20


def test_a_killed_listener_connection_reconnects_and_misses_nothing(postgres_url: str, tmp_path: Path) -> None:
    with (
        api_client(_replica(postgres_url, tmp_path, "a", poll_interval=60)) as a,
        api_client(_replica(postgres_url, tmp_path, "b", poll_interval=60)) as b,
    ):
        wait_until(lambda: _listeners(postgres_url) >= 2, what="both replicas listening")
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s", (f'LISTEN "{CHANNEL}"',)
            )
        # Written while nobody listens: the listener catches up when it is back.
        created = a.post(ENDPOINTS, json={"phone_number": "+15550009999", "provider": "twilio"})
        assert created.status_code == 201
        url = f"{ENDPOINTS}/{created.json()['id']}"
        wait_until(lambda: b.get(url).status_code == 200, timeout=10, what="the write seen after reconnecting")
        wait_until(lambda: _listeners(postgres_url) >= 2, what="both listening again")
        later = b.post(ENDPOINTS, json={"phone_number": "+15550009998", "provider": "twilio"})
        url = f"{ENDPOINTS}/{later.json()['id']}"
        wait_until(lambda: a.get(url).status_code == 200, timeout=1, what="a notified write after the reconnect")
