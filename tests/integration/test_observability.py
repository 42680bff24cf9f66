"""Operators scrape /metrics (requests per route and status, positions and lags, NATS state) and read one
structured access-log line per request."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import pytest

from service.logs import ACCESS_LOGGER
from service.settings import Settings
from tests.clients import api_client
from tests.nats_support import wait_until


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the exposition ``text`` (labels must all match), or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.partition(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_count_requests_by_route_template_and_report_positions(settings: Settings, nats_server) -> None:
    # Request counters live in the process-wide registry (as Prometheus clients do): compare with a baseline.
    with api_client(replace(settings, nats_url=nats_server.url, poll_interval=0.1)) as client:
        baseline = client.get("/metrics").text
        created = client.post("/api/settings/endpoints", json={"phone_number": "+15551234567", "provider": "twilio"})
        endpoint_id = created.json()["id"]
        for _ in range(3):
            client.get(f"/api/settings/endpoints/{endpoint_id}")
        client.get("/api/settings/endpoints/00000000-0000-0000-0000-000000000000")

        def scraped() -> str | None:
            text = client.get("/metrics").text
            done = metric(text, "telephony_settings_relay_lag") == 0 and metric(
                text, "telephony_settings_store_position"
            )
            return text if done else None

        text = wait_until(scraped, what="relay caught up in metrics")
        ready = client.get("/health/ready").json()

    def grew(name: str, **labels: str) -> float:
        return (metric(text, name, **labels) or 0) - (metric(baseline, name, **labels) or 0)

    one = "/api/settings/endpoints/{endpoint_id}"
    assert grew("telephony_settings_requests_total", path=one, method="GET", status_code="200") == 3
    assert grew("telephony_settings_requests_total", path=one, method="GET", status_code="404") == 1
    assert grew("telephony_settings_requests_total", path="/api/settings/endpoints", status_code="201") == 1
    assert endpoint_id not in text  # ids never become label values
    assert grew("telephony_settings_request_duration_seconds_count", path=one, method="GET", status_code="200") == 3
    assert metric(text, "telephony_settings_store_position") == ready["store_position"] == 2
    assert metric(text, "telephony_settings_read_model_position") == 2
    assert metric(text, "telephony_settings_read_model_lag") == 0
    assert metric(text, "telephony_settings_relay_position") == 2
    assert metric(text, "telephony_settings_nats_connected") == 1
    assert metric(text, "telephony_settings_relay_published_total") == 1


def test_nats_state_is_reported_down_when_nats_is_unreachable(tmp_path) -> None:
    from service.publish.nats_embedded import free_port

    settings = Settings(data_dir=tmp_path, nats_url=f"nats://127.0.0.1:{free_port()}", poll_interval=0.1)
    with api_client(settings) as client:
        client.post("/api/settings/endpoints", json={"phone_number": "+15551234567", "provider": "twilio"})

        def lagging() -> str | None:
            text = client.get("/metrics").text
            return text if metric(text, "telephony_settings_relay_lag") == 2 else None

        text = wait_until(lagging, what="relay lag 2 while NATS is down")
    assert metric(text, "telephony_settings_nats_connected") == 0


def test_each_request_logs_one_structured_line(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    with api_client(settings) as client:
        response = client.post(
            "/api/settings/endpoints",
            json={"phone_number": "+15551234567", "provider": "twilio"},
            headers={"X-Request-ID": "req-42"},
        )
        client.get("/api/settings/endpoints/not-an-id")
    lines = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert [(r.method, r.route, r.status) for r in lines] == [
        ("POST", "/api/settings/endpoints", 201),
        ("GET", "/api/settings/endpoints/{endpoint_id}", 404),
    ]
    first = lines[0]
    assert first.request_id == "req-42" == response.headers["x-request-id"]
    assert first.actor == "tester"
    assert 0 < first.duration_ms < 60_000
    assert "+15551234567" not in first.getMessage()  # no bodies in access lines
