"""The service against a NATS server it did not start, as in production: ``TELEPHONY_TEST_NATS_URL`` names one
(``.ci/run`` sets it to the machine's server, Debian's nats-server 2.9). The service creates or updates the stream and
the bucket there, and a change reaches both.

The stream and bucket names are fixed by the contract, and the relay takes the stream's last position as what it
has published, so this test deletes ``TELEPHONY_SETTINGS`` and ``telephony_settings`` on that server first: point the
variable only at a server for tests. Every other NATS test starts a private nats-server (``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import replace
from pathlib import Path

import msgspec
import nats
import pytest
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from events import wire
from service.settings import Settings
from tests.clients import api_client
from tests.nats_support import kv_entries, wait_until

SHARED_NATS_VARIABLE = "TELEPHONY_TEST_NATS_URL"


async def reset(url: str) -> None:
    client = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=0)
    js = client.jetstream()
    try:
        for delete in (js.delete_stream(wire.STREAM), js.delete_key_value(wire.KV_BUCKET)):
            with contextlib.suppress(NotFoundError):
                await delete
    finally:
        await client.close()


async def last_message(url: str, subject: str) -> RawStreamMsg | None:
    """The stream's last message on ``subject``."""
    client = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=0)
    try:
        return await client.jetstream().get_last_msg(wire.STREAM, subject)
    except NotFoundError:
        return None
    finally:
        await client.close()


@pytest.fixture
def shared_nats_url() -> str:
    url = os.environ.get(SHARED_NATS_VARIABLE)
    if not url:
        pytest.skip(f"{SHARED_NATS_VARIABLE} names no NATS server for tests (e.g. nats://127.0.0.1:4222)")
    return url


def test_a_change_reaches_the_stream_and_the_bucket_of_an_existing_nats_server(
    shared_nats_url: str, tmp_path: Path
) -> None:
    asyncio.run(reset(shared_nats_url))
    number = "+15551234567"
    settings = replace(Settings(data_dir=tmp_path, poll_interval=0.2), nats_url=shared_nats_url)

    with api_client(settings) as client:
        created = client.post("/api/settings/endpoints", json={"phone_number": number, "provider": "twilio"})
        assert created.status_code == 201, created.text
        endpoint_id = created.json()["id"]

        def published() -> bool:
            last = asyncio.run(last_message(shared_nats_url, wire.endpoint_subject(number, "created")))
            return last is not None and (last.headers or {}).get(wire.HEADER_MSG_ID) == f"{endpoint_id}:1"

        wait_until(published, what="the creation in the shared server's stream")
        routes = wait_until(
            lambda: kv_entries(shared_nats_url).get(wire.route_key(number)), what="the route in the shared bucket"
        )
    assert msgspec.json.decode(routes)["endpoint_id"] == endpoint_id
