"""The real process logs JSON lines (its output is not a terminal): one line per request with method, route,
status, duration, request id and actor; the level comes from TELEPHONY_LOG_LEVEL."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from tests.e2e.conftest import ServiceProcess


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
    quiet = service_factory(env={"TELEPHONY_LOG_LEVEL": "WARNING"})
    assert quiet.http is not None
    quiet.http.get("/api/settings/telephony").raise_for_status()
    quiet.stop()
    levels = {line["level"] for line in json_lines(quiet.output())}
    assert levels <= {"warning", "error", "critical"}
