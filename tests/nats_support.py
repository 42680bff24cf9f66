"""Test support for NATS: a private nats-server per test (from the wheel, or the machine's Debian build for the
compatibility runs) and small readers of the stream and the KV bucket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError

from events import wire

SYSTEM_NATS_SERVER = Path("/usr/sbin/nats-server")


@dataclass
class StreamMessage:
    seq: int
    subject: str
    headers: dict[str, str]
    data: bytes


@asynccontextmanager
async def _jetstream(url: str) -> AsyncIterator[JetStreamContext]:
    """A JetStream context on a fresh connection that fails fast and is closed on the way out."""
    nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=0)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def _stream_messages(url: str) -> list[StreamMessage]:
    async with _jetstream(url) as js:
        try:
            info = await js.stream_info(wire.STREAM)
        except NotFoundError:
            return []
        messages = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages == 0:
                break
            raw = await js.get_msg(wire.STREAM, seq=seq)
            messages.append(StreamMessage(seq, raw.subject, dict(raw.headers or {}), raw.data or b""))
        return messages


async def _kv_entries(url: str) -> dict[str, bytes]:
    async with _jetstream(url) as js:
        try:
            bucket = await js.key_value(wire.KV_BUCKET)
        except BucketNotFoundError:
            return {}
        try:
            keys = await bucket.keys()
        except Exception:  # NoKeysError
            return {}
        return {key: (await bucket.get(key)).value or b"" for key in keys}


async def _delete_stream(url: str) -> None:
    async with _jetstream(url) as js:
        await js.delete_stream(wire.STREAM)


def stream_messages(url: str) -> list[StreamMessage]:
    return asyncio.run(_stream_messages(url))


def kv_entries(url: str) -> dict[str, bytes]:
    return asyncio.run(_kv_entries(url))


def delete_stream(url: str) -> None:
    asyncio.run(_delete_stream(url))


def wait_until(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> object:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except Exception as exc:  # e.g. NATS briefly unreachable while a test restarts it
            last_error = exc
            result = None
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_error!r})")
