"""The live stream's shared reader of the log (``service.publish.feed.SharedChanges`` driven by
``service.http.stream.LiveFeed``) on a real SQLite file and a real PostgreSQL database: many open streams cost one
read of the log per change, every stream gets every change once and in order, and a stream that resumes from
before what the shared reader keeps reads the log on its own until it reaches it, then joins it."""

from __future__ import annotations

import asyncio
import json

import pytest

from service.container import Container
from service.http import stream as stream_module
from service.publish import feed as feed_module
from service.write.commands import Actor, NewEndpoint, PatchEndpoint

ACTOR = Actor("live-feed-test")


def _create(container: Container, first: int, count: int) -> None:
    for n in range(first, first + count):
        endpoint_id, _ = container.app.create_endpoint(
            NewEndpoint(phone_number=f"+1555321{n:04d}", provider="twilio", label=f"line {n}"), ACTOR
        )
        if n % 2:
            container.app.update_endpoint(PatchEndpoint(endpoint_id, {"inbound_agent_name": f"agent-{n}"}), ACTOR)


async def _collect(stream, count: int) -> list[tuple[int, str, dict]]:
    found = []
    async for message in stream:
        if message.id is not None:
            found.append((int(message.id), message.event, json.loads(message.data)))
            if len(found) == count:
                break
    return found


def test_many_streams_share_one_read_of_the_log_and_each_gets_every_change_in_order(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    original = feed_module.Changes.next_batch

    def counted(self):  # type: ignore[no-untyped-def]
        reads.append(1)
        return original(self)

    monkeypatch.setattr(feed_module.Changes, "next_batch", counted)
    _create(container, 0, 3)  # history before the streams: not theirs

    async def scenario() -> list[list[tuple[int, str, dict]]]:
        feed = stream_module.LiveFeed(container)
        start = container.read_model.position
        streams = [stream_module._events(container, feed, start) for _ in range(20)]
        tasks = [asyncio.create_task(_collect(s, 15)) for s in streams]
        await asyncio.sleep(0.3)  # every stream has joined
        await asyncio.to_thread(_create, container, 10, 10)  # 15 public changes: 10 creations, 5 updates
        results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        for s in streams:
            await s.aclose()
        assert feed._shared is None  # the last stream gone: the shared view is dropped
        return results

    results = asyncio.run(scenario())
    first = results[0]
    assert all(result == first for result in results)
    assert [position for position, _, _ in first] == sorted({position for position, _, _ in first})
    assert [name for _, name, _ in first].count("endpoint.created") == 10
    assert [name for _, name, _ in first].count("endpoint.updated") == 5
    assert {body["endpoint"]["phone_number"] for _, _, body in first} == {f"+1555321{n:04d}" for n in range(10, 20)}
    assert len(reads) < 20, f"{len(reads)} reads of the log for 20 streams"  # one reader, not one per stream


def test_a_stream_that_resumes_before_what_is_kept_reads_on_its_own_then_joins(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_module, "KEPT", 4)  # the shared reader keeps only the last four changes

    async def scenario() -> tuple[list, list]:
        feed = stream_module.LiveFeed(container)
        watching = stream_module._events(container, feed, container.read_model.position)
        live = asyncio.create_task(_collect(watching, 12))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(_create, container, 0, 8)  # 12 public changes: more than are kept
        seen_live = await asyncio.wait_for(live, timeout=30)
        assert feed._shared is not None
        assert feed._shared.after(0) is None  # the oldest are no longer kept
        resumed = stream_module._events(container, feed, 0)  # an EventSource back after a long absence
        seen_resumed = await asyncio.wait_for(_collect(resumed, 12), timeout=30)
        await asyncio.to_thread(_create, container, 20, 1)  # and it follows the shared reader from then on
        after = await asyncio.wait_for(_collect(resumed, 1), timeout=30)
        for s in (watching, resumed):
            await s.aclose()
        return seen_live, seen_resumed + after

    seen_live, seen_resumed = asyncio.run(scenario())
    assert seen_resumed[:12] == seen_live
    assert seen_resumed[12][2]["endpoint"]["phone_number"] == "+15553210020"


def test_a_failed_read_of_the_log_keeps_the_streams_open_and_they_get_the_changes_after_it(
    container: Container, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from eventsourcing.persistence import OperationalError

    failures = iter([True])
    original = feed_module.SharedChanges.read

    def flaky(self):  # type: ignore[no-untyped-def]
        if next(failures, False):
            raise OperationalError("the database is away")
        return original(self)

    monkeypatch.setattr(feed_module.SharedChanges, "read", flaky)

    async def scenario() -> list:
        feed = stream_module.LiveFeed(container)
        stream = stream_module._events(container, feed, container.read_model.position)
        task = asyncio.create_task(_collect(stream, 2))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(_create, container, 0, 2)
        found = await asyncio.wait_for(task, timeout=30)
        await stream.aclose()
        return found

    found = asyncio.run(scenario())
    assert [body["endpoint"]["phone_number"] for _, _, body in found] == ["+15553210000", "+15553210001"]
    assert "live stream: the log could not be read (OperationalError); retrying" in caplog.text


def test_a_read_that_fails_midway_returns_what_it_found_and_loses_no_change(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event that cannot be made into a message midway through a batch: the changes before it are returned, the
    next read meets the failure again, and once it passes every change arrives once, in order."""
    start = container.read_model.copy()
    begin = start.position  # (the shared reader folds on in ``start`` itself)
    _create(container, 0, 4)  # 6 public changes
    shared = feed_module.SharedChanges(container.app, start)
    original = feed_module.advance
    calls = {"n": 0, "failed": 0}

    def flaky(view, event, position, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 4 and not calls["failed"]:  # the fourth public event, once
            calls["failed"] = 1
            raise ValueError("not now")
        return original(view, event, position, **kwargs)

    monkeypatch.setattr(feed_module, "advance", flaky)
    assert shared.read() is True  # three changes found before the failure: kept, and more to read
    first = shared.after(begin)
    assert first is not None
    assert len(first[0]) == 3
    shared.read()
    kept = shared.after(begin)
    assert kept is not None
    positions = [change[0] for change in kept[0]]
    assert len(positions) == 6
    assert positions == sorted(set(positions))
    assert kept[0][:3] == first[0]
