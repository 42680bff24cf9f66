"""A read-model snapshot is encoded a chunk of endpoints at a time (so a write does not hold the GIL for the whole
list), and the result is exactly msgspec's own encoding of the snapshot: what a start decodes."""

from __future__ import annotations

import datetime
import uuid

import msgspec
import pytest

from projections.endpoints import Endpoint
from projections.provider import INITIAL
from service.read.snapshots import CHUNK, Snapshot, _record

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def endpoints(count: int) -> list[Endpoint]:
    return [
        Endpoint(
            id=uuid.UUID(int=n + 1),
            phone_number=f"+1555{n:07d}",
            provider="twilio",
            inbound_agent_name=f"agent-{n % 7}" if n % 2 else None,
            outbound_agent_name=None,
            label=f"line {n}",
            is_active=bool(n % 3),
            created_at=NOW,
            updated_at=NOW,
            version=n % 5 + 1,
        )
        for n in range(count)
    ]


# Each side of every MessagePack array-header size and of a chunk's end.
@pytest.mark.parametrize("count", [0, 1, 15, 16, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 15, 0xFFFF, 0x10000])
def test_the_chunked_record_is_msgspecs_encoding_byte_for_byte(count: int) -> None:
    snapshot = Snapshot(2**40 + count, f"{uuid.UUID(int=count)}:3", endpoints(count), INITIAL)
    record = _record(snapshot)
    assert record == msgspec.msgpack.encode(snapshot)
    assert msgspec.msgpack.decode(record, type=Snapshot) == snapshot
