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
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError

from events import wire
from service.settings import Settings
from tests.clients import api_client

SHARED_NATS_VARIABLE = "TELEPHONY_TEST_NATS_URL"


async def connect(url: str) -> nats.NATS:
    """A connection that fails in seconds when the server is away (nats-py alone would retry for minutes)."""
    return await asyncio.wait_for(nats.connect(url, connect_timeout=3, max_reconnect_attempts=0), timeout=10)


async def reset(url: str) -> None:
    client = await connect(url)
    js = client.jetstream(timeout=5)
    try:
        for delete in (js.delete_stream(wire.STREAM), js.delete_key_value(wire.KV_BUCKET)):
            with contextlib.suppress(NotFoundError):
                await delete
    finally:
        await client.close()


async def published_creation(url: str, number: str, endpoint_id: str, within: float = 20.0) -> bytes:
    """The route of ``number`` once the stream holds the creation of ``endpoint_id``: polled on one connection, every
    request bounded (a hung request fails the test instead of the test run)."""
    client = await connect(url)
    js = client.jetstream(timeout=2)
    subject = wire.endpoint_subject(number, "created")
    try:
        async with asyncio.timeout(within):
            while True:
                with contextlib.suppress(NotFoundError, NatsTimeoutError, BucketNotFoundError, KeyNotFoundError):
                    last = await js.get_last_msg(wire.STREAM, subject)
                    if (last.headers or {}).get(wire.HEADER_MSG_ID) == f"{endpoint_id}:1":
                        bucket = await js.key_value(wire.KV_BUCKET)
                        return (await bucket.get(wire.route_key(number))).value or b""
                await asyncio.sleep(0.1)
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
        route = asyncio.run(published_creation(shared_nats_url, number, endpoint_id))
    assert msgspec.json.decode(route)["endpoint_id"] == endpoint_id
