"""The real process logs JSON lines (its output is not a terminal): one line per request with method, route,
status, duration, request id and actor; the level comes from TELEPHONY_LOG_LEVEL."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx

from tests.e2e.conftest import ServiceProcess, free_port


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_the_server_writes_one_json_access_line_per_request(service: ServiceProcess, api: httpx.Client) -> None:
    api.post(
        "/api/settings/endpoints",
        json={"phone_number": "+15551234567", "provider": "twilio"},
        headers={"X-Request-ID": "trace-7"},
    ).raise_for_status()
    service.stop()
    lines = json_lines(service.output())  # every line parses: nothing but JSON on the output
    access = [line for line in lines if line.get("logger") == "telephony_settings.access"]
    posted = next(line for line in access if line["method"] == "POST")
    assert posted["route"] == "/api/settings/endpoints"
    assert posted["status"] == 201
    assert posted["request_id"] == "trace-7"
    assert posted["actor"] == "tester"  # the name of the API key used
    assert posted["duration_ms"] > 0
    assert any(line["event"] == "Application shutdown complete." for line in lines)


def test_the_log_level_comes_from_the_environment(service_factory: Callable[..., ServiceProcess]) -> None:
    # NATS at a port where nothing listens: the relay warns that it cannot reach it (and keeps trying), which is
    # something to see at WARNING; the start-up and request lines are INFO and must not appear.
    dead_nats = f"nats://127.0.0.1:{free_port()}"
    quiet = service_factory(env={"TELEPHONY_LOG_LEVEL": "WARNING", "TELEPHONY_NATS_URL": dead_nats})
    assert quiet.http is not None
    quiet.http.get("/api/settings/telephony").raise_for_status()
    deadline = time.monotonic() + 30
    while "not reachable" not in quiet.output() and time.monotonic() < deadline:  # a connection attempt timing out
        time.sleep(0.1)
    quiet.stop()
    lines = json_lines(quiet.output())
    assert any(line["level"] == "warning" and "NATS" in line["event"] for line in lines), lines
    assert {line["level"] for line in lines} <= {"warning", "error", "critical"}
    assert not any(line.get("logger") == "telephony_settings.access" for line in lines)


def test_nothing_but_json_lines_and_every_line_has_a_level_and_an_event(
    service: ServiceProcess, api: httpx.Client
) -> None:
    api.get("/api/settings/endpoints").raise_for_status()
    service.stop()
    lines = json_lines(service.output())
    assert len(lines) >= 3, lines  # the start, the request, the shutdown at least
    assert all(isinstance(line.get("level"), str) and isinstance(line.get("event"), str) for line in lines)
