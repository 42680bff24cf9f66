"""A relay stopped in the middle of publishing a backlog resumes after the last message in the stream: the stream
ends up with every event exactly once, in store order."""

from __future__ import annotations

import asyncio
import json
import time

import nats
from nats.js.errors import NotFoundError

from events import wire
from service.container import build_container
from service.publish.nats_link import NatsLink
from service.publish.relay import Relay
from service.write.commands import Actor, NewEndpoint
from tests.nats_support import stream_messages

BACKLOG = 1500


async def stream_count(observer: nats.NATS) -> int:
    try:
        return (await observer.jetstream().stream_info(wire.STREAM)).state.messages
    except NotFoundError:
        return 0


async def run_relay_until(container, url: str, done) -> int:
    link = NatsLink(url)
    await link.start()
    relay = Relay(container.app, link, poll_interval=0.2)
    task = asyncio.create_task(relay.run())
    observer = await nats.connect(url, connect_timeout=3)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            count = await stream_count(observer)
            if done(count):
                return count
            await asyncio.sleep(0.01)
        raise AssertionError(f"relay stuck at {relay.position} after 60 s")
    finally:
        relay.stop()  # stop in the middle of the backlog, as a shutdown would
        await asyncio.wait_for(task, timeout=10)
        await observer.close()
        await link.close()


def test_a_relay_stopped_mid_backlog_resumes_without_duplicates(settings, nats_server) -> None:
    container = build_container(settings)
    try:
        for i in range(BACKLOG):
            container.app.create_endpoint(NewEndpoint(phone_number=f"+1555{i:07d}", provider="twilio"), Actor())
        first = asyncio.run(run_relay_until(container, nats_server.url, lambda count: count >= 100))
        assert first < BACKLOG, "the first relay was meant to be stopped mid-way"
        final = asyncio.run(run_relay_until(container, nats_server.url, lambda count: count >= BACKLOG))
    finally:
        container.close()
    messages = stream_messages(nats_server.url)
    assert final == len(messages) == BACKLOG
    ids = [m.headers[wire.HEADER_MSG_ID] for m in messages]
    assert len(set(ids)) == BACKLOG
    positions = [json.loads(m.data)["position"] for m in messages]
    assert positions == sorted(positions)
    numbers = [json.loads(m.data)["endpoint"]["phone_number"] for m in messages]
    assert numbers == [f"+1555{i:07d}" for i in range(BACKLOG)]
