"""The embedded default publishes to its own nats-server, and ``telephony-settings watch`` (the demo router) prints
every route change live, finding that server through the data dir."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import ServiceProcess, service_environment


def watch_command() -> list[str]:
    script = Path(sys.executable).with_name("telephony-settings")
    return [str(script), "watch"] if script.exists() else [sys.executable, "-m", "service.cli", "watch"]


def read_lines(stream, sink: queue.Queue[str]) -> None:
    for raw in iter(stream.readline, b""):
        sink.put(raw.decode())


def next_change(lines: queue.Queue[str], key: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        change = json.loads(line)
        if change["key"] == key:
            return change
    raise AssertionError(f"watch printed no change of {key} within {timeout} s")


def test_watch_prints_route_changes_live_from_the_embedded_nats(service: ServiceProcess, api: httpx.Client) -> None:
    assert service.data_dir is not None
    url_file = service.data_dir / "nats" / "url"
    assert url_file.read_text().startswith("nats://127.0.0.1:")  # the embedded server, on a loopback port
    assert "embedded nats-server listening on nats://127.0.0.1:" in service.output()

    api.put(
        "/api/settings/telephony",
        json={
            "public_base_url": "https://voice.example.com",
            "twilio_account_sid": "AC" + "3" * 32,
            "twilio_auth_token": "tok-12345678",
        },
    ).raise_for_status()
    before = api.post(
        "/api/settings/endpoints",
        json={"phone_number": "+15552220001", "provider": "twilio", "inbound_agent_name": "early"},
    ).json()

    watcher = subprocess.Popen(
        [*watch_command(), "--data-dir", str(service.data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=service_environment(),
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(watcher.stdout, lines), daemon=True).start()
    try:
        initial = next_change(lines, "routes.15552220001")  # the current routes first
        assert initial["value"]["endpoint_id"] == before["id"]

        created = api.post(
            "/api/settings/endpoints",
            json={"phone_number": "+1 555 222 0002", "provider": "twilio", "inbound_agent_name": "live"},
        ).json()
        live = next_change(lines, "routes.15552220002")
        assert live["value"]["inbound_webhook_url"] == "https://voice.example.com/telephony/twilio/inbound/live"

        api.delete(f"/api/settings/endpoints/{created['id']}").raise_for_status()
        assert next_change(lines, "routes.15552220002") == {"key": "routes.15552220002", "deleted": True}
    finally:
        os.killpg(watcher.pid, signal.SIGTERM)
        watcher.wait(timeout=10)

    service.stop()
    assert not url_file.exists()  # the embedded nats-server stopped with the service
