"""The embedded default publishes to its own nats-server, and ``telephony-settings watch`` (the demo router) prints
every route change live, finding that server through the data dir."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import ServiceProcess, service_environment
from tests.nats_cluster import ConfiguredNatsServer
from tests.nats_pki import Pki


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


def test_watch_follows_a_restarted_service_and_says_when_it_lost_it(service: ServiceProcess, api: httpx.Client) -> None:
    assert service.data_dir is not None
    url_file = service.data_dir / "nats" / "url"
    first_url = url_file.read_text().strip()
    watcher, lines, notes = start_watch(service.data_dir)
    try:
        next_note(notes, "# watching")
        service.restart()  # the embedded nats-server stops and starts with it

        assert url_file.read_text().strip() == first_url  # the same address for the same data dir
        assert "kept for this data dir" in service.output()
        next_note(notes, "# disconnected from")
        assert service.http is not None
        service.http.post(
            "/api/settings/endpoints", json={"phone_number": "+15552220011", "provider": "twilio"}
        ).raise_for_status()
        assert next_change(lines, "routes.15552220011")["value"]["phone_number"] == "+15552220011"
        next_note(notes, "again: routes are current")
    finally:
        os.killpg(watcher.pid, signal.SIGTERM)
        watcher.wait(timeout=10)


def test_watch_finds_the_embedded_server_at_a_new_address_when_its_port_was_taken(
    service: ServiceProcess, api: httpx.Client
) -> None:
    assert service.data_dir is not None
    url_file = service.data_dir / "nats" / "url"
    old_port = int(url_file.read_text().strip().rsplit(":", 1)[1])
    watcher, lines, notes = start_watch(service.data_dir)
    squatter = socket.socket()
    try:
        next_note(notes, "# watching")
        service.stop()
        next_note(notes, "# disconnected from")
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the old server's closed connections linger
        squatter.bind(("127.0.0.1", old_port))  # another program takes the port while the service is down
        squatter.listen()
        service.start()

        new_url = url_file.read_text().strip()
        assert not new_url.endswith(f":{old_port}")
        assert "is taken by another program" in service.output()
        assert service.http is not None
        service.http.post(
            "/api/settings/endpoints", json={"phone_number": "+15552220012", "provider": "twilio"}
        ).raise_for_status()
        assert next_change(lines, "routes.15552220012")["value"]["phone_number"] == "+15552220012"
        next_note(notes, f"# connected to {new_url} again")
    finally:
        squatter.close()
        os.killpg(watcher.pid, signal.SIGTERM)
        watcher.wait(timeout=10)


def test_serve_and_watch_reach_a_nats_server_over_tls_with_a_password_and_never_print_it(
    tmp_path: Path, service_factory
) -> None:
    """The real processes, configured only by the environment an operator would set: TLS with a CA file and a
    client certificate, a user and password in the URL."""
    password = "pw-e2e-Hq2w9-never-printed"
    pki = Pki.make(tmp_path / "pki")
    with ConfiguredNatsServer(tmp_path / "tls-nats", pki.server_settings("router", password)) as nats_server:
        secured = {
            "TELEPHONY_NATS_URL": f"tls://router:{password}@127.0.0.1:{nats_server.port}",
            "TELEPHONY_NATS_CA": str(pki.ca),
            "TELEPHONY_NATS_CERT": str(pki.cert),
            "TELEPHONY_NATS_KEY": str(pki.key),
        }
        service = service_factory(env=secured)
        assert service.http is not None
        watcher, lines, notes = start_watch(None, env=secured)
        try:
            watching = next_note(notes, "# watching")
            assert f"tls://router:***@127.0.0.1:{nats_server.port}" in watching
            service.http.post(
                "/api/settings/endpoints",
                json={"phone_number": "+15552220021", "provider": "twilio", "inbound_agent_name": "secured"},
            ).raise_for_status()
            change = next_change(lines, "routes.15552220021")
            assert change["value"]["inbound_agent_name"] == "secured"
            health = service.http.get("/health/ready").json()
            assert health["nats"] == "connected"
        finally:
            os.killpg(watcher.pid, signal.SIGTERM)
            watcher.wait(timeout=10)
        watcher_said = [watching]
        while not notes.empty():
            watcher_said.append(notes.get())
        service.stop()
        printed = "\n".join([service.output(), *watcher_said, json.dumps(health)])
        assert "connected to NATS at tls://router:***@" in printed
        assert password not in printed


def start_watch(
    data_dir: Path | None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], queue.Queue[str], queue.Queue[str]]:
    """``telephony-settings watch`` on ``data_dir`` (or configured by ``env`` alone): the process, and the lines of
    its stdout and of its stderr."""
    watcher = subprocess.Popen(
        [*watch_command(), *(["--data-dir", str(data_dir)] if data_dir else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=service_environment(extra=env),
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    notes: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(watcher.stdout, lines), daemon=True).start()
    threading.Thread(target=read_lines, args=(watcher.stderr, notes), daemon=True).start()
    return watcher, lines, notes


def next_note(notes: queue.Queue[str], fragment: str, timeout: float = 30.0) -> str:
    """The next line the watcher writes on stderr that contains ``fragment``."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = notes.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if fragment in line:
            return line
    raise AssertionError(f"watch wrote no {fragment!r} on stderr within {timeout} s; it wrote {seen}")
