"""The relay sends a batch's messages without waiting for each ack, each expecting the sequence of the one before
(``Nats-Expected-Last-Sequence``): the stream never holds a message after a gap. Checked here by putting a message
the relay does not expect into the stream while it publishes, and by a change set far larger than one batch."""

from __future__ import annotations

import asyncio
import json

import nats

from events import wire
from service.settings import Settings
from tests.integration.test_nats_relay import TWILIO, published, running
from tests.nats_support import wait_until


async def _publish_foreign(url: str) -> None:
    nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=0)
    try:
        await nc.jetstream().publish(f"{wire.SUBJECT_PREFIX}.foreign", b"{}")
    finally:
        await nc.close()


def test_a_message_the_relay_did_not_expect_in_the_stream_costs_no_order_and_no_message(
    settings: Settings, nats_server
) -> None:
    with running(settings, nats_server) as client:
        assert client.put("/api/settings/telephony", json=TWILIO).status_code == 200
        published(nats_server, 1)
        asyncio.run(_publish_foreign(nats_server.url))  # the relay's idea of the last sequence is now stale
        items = [{"op": "create", "phone_number": f"+1555200{n:04d}", "provider": "twilio"} for n in range(1200)]
        answer = client.post("/api/settings/changes", json={"endpoints": items})
        assert answer.status_code == 200, answer.text

        messages = published(nats_server, 1 + 1 + 1200)
        ours = [m for m in messages if not m.subject.endswith(".foreign")]
    ids = [m.headers[wire.HEADER_MSG_ID] for m in ours]
    assert len(ids) == len(set(ids)) == 1201  # each once
    positions = [int(m.headers[wire.HEADER_POSITION]) for m in ours]
    assert positions == sorted(positions)  # in store order, across batches of the relay
    numbers = [json.loads(m.data)["endpoint"]["phone_number"] for m in ours[1:]]
    assert numbers == [item["phone_number"] for item in items]  # in item order


async def _stored_count(url: str) -> int:
    nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=0)
    try:
        return (await nc.jetstream().stream_info(wire.STREAM)).state.messages
    except Exception:
        return 0
    finally:
        await nc.close()


def test_a_nats_restart_in_the_middle_of_a_change_sets_messages_loses_and_repeats_none(
    settings: Settings, nats_server
) -> None:
    total = 1 + 10_000
    with running(settings, nats_server) as client:
        assert client.put("/api/settings/telephony", json=TWILIO).status_code == 200
        items = [{"op": "create", "phone_number": f"+1555{n:07d}", "provider": "twilio"} for n in range(10_000)]
        assert client.post("/api/settings/changes", json={"endpoints": items}).status_code == 200
        stored_at_stop = wait_until(
            lambda: (count := asyncio.run(_stored_count(nats_server.url))) > 1 and count, what="publishing under way"
        )
        nats_server.stop()
        nats_server.start()
        messages = published(nats_server, total)
    assert stored_at_stop < total, "NATS was stopped after the last message: nothing was interrupted"
    ids = [m.headers[wire.HEADER_MSG_ID] for m in messages]
    assert len(ids) == len(set(ids)) == total
    positions = [int(m.headers[wire.HEADER_POSITION]) for m in messages]
    assert positions == sorted(positions)
