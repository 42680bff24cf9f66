"""Two service processes on one store and one NATS: both serve reads and writes, exactly one relay publishes (the
other waits on standby), the stream holds each event once and in order, and when the publishing one stops the other
takes over and nothing is left unpublished."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from events import wire
from service.settings import Settings
from tests.clients import api_client
from tests.nats_support import stream_messages, wait_until


def relay_state(client) -> str:
    return client.get("/health/ready").json().get("relay", "")


def test_one_relay_at_a_time_and_a_standby_takes_over(settings: Settings, nats_server) -> None:
    configured = replace(settings, nats_url=nats_server.url, poll_interval=0.2)
    first, second = api_client(configured), api_client(configured)
    first.__enter__()
    try:
        wait_until(lambda: relay_state(first) == "active", what="the first process to take the relay")
        second.__enter__()
        try:
            assert relay_state(second) == "standby"
            numbers = []
            for _i in range(10):
                for client in (first, second):
                    number = f"+1555{len(numbers):07d}"
                    client.post("/api/settings/endpoints", json={"phone_number": number, "provider": "twilio"})
                    numbers.append(number)
            # the standby process follows the shared store: it sees the other's writes
            wait_until(lambda: len(second.get("/api/settings/endpoints").json()) == 20, what="second sees all")
            wait_until(lambda: len(stream_messages(nats_server.url)) >= 20, what="20 messages")
            assert relay_state(second) == "standby"
        finally:
            first.__exit__(None, None, None)  # the publishing process goes away
        started = time.monotonic()
        wait_until(lambda: relay_state(second) == "active", timeout=10, what="the standby to take over")
        took_over = time.monotonic() - started
        for _i in range(5):
            number = f"+1555{len(numbers):07d}"
            second.post("/api/settings/endpoints", json={"phone_number": number, "provider": "twilio"})
            numbers.append(number)
        messages = wait_until(
            lambda: found if len(found := stream_messages(nats_server.url)) >= 25 else None, what="25 messages"
        )
    finally:
        second.__exit__(None, None, None)
    assert took_over < 10
    time.sleep(0.5)  # a wrongly duplicated publication would show up by now
    messages = stream_messages(nats_server.url)
    assert len(messages) == 25
    assert len({m.headers[wire.HEADER_MSG_ID] for m in messages}) == 25
    positions = [int(m.headers[wire.HEADER_POSITION]) for m in messages]
    assert positions == sorted(positions)
    assert [json.loads(m.data)["endpoint"]["phone_number"] for m in messages] == numbers
