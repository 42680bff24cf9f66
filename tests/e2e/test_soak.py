"""Soak: a bounded mixed load on the real server for a minute, with a live NATS subscriber and two live streams
(server-sent events): one open throughout, one that disconnects every ``RECONNECT_EVERY`` seconds and comes back with
its ``Last-Event-ID``, as a browser's ``EventSource`` does.

Zero 5xx, every public event received by the subscriber and by each stream exactly once and in order, and the
server's memory flat after warm-up. Runs in CI (marked ``slow`` so it can be deselected locally with ``-m "not slow"``).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from events import PUBLIC_EVENT_TYPES, wire
from service.settings import Settings
from tests.clients import AUTH
from tests.e2e.conftest import ServiceProcess
from tests.e2e.reliability_support import ENDPOINTS, last_public_position, nats_url_of, store_events
from tests.nats_support import wait_until
from tests.sse_client import Reader

SOAK_SECONDS = 60.0
WARM_UP_SECONDS = 15.0
WRITERS, READERS = 3, 3
WRITES_PER_SECOND_EACH = 25  # about 75 writes/s in all; reads run unthrottled
POOL = 20  # phone numbers per writer: the live data stays bounded, so memory must too
RECONNECT_EVERY = 10.0

pytestmark = pytest.mark.slow


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Subscriber:
    """A live JetStream subscriber (an ordered consumer of the whole stream), as a call router would run."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[tuple[int, str]] = []  # (position, msg id)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.ready = threading.Event()

    def start(self) -> None:
        self._thread.start()
        assert self.ready.wait(15), "the subscriber did not start"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    async def _run(self) -> None:
        nc = await nats.connect(self.url, connect_timeout=3)
        js = nc.jetstream()

        async def on_message(msg: Any) -> None:
            headers = msg.headers or {}
            self.received.append((int(headers[wire.HEADER_POSITION]), headers[wire.HEADER_MSG_ID]))

        await js.subscribe(wire.STREAM_SUBJECTS, cb=on_message, ordered_consumer=True)
        self.ready.set()
        while not self._stop.is_set():
            await asyncio.sleep(0.1)
        await nc.close()


class StreamWatcher:
    """A live stream read from outside: ``(position, event id)`` of every event, across reconnections."""

    def __init__(self, server: ServiceProcess) -> None:
        self.server = server
        self.received: list[tuple[int, str]] = []
        self.reconnections = 0
        self._reader = Reader(server)

    def drain(self, until: int | None = None, timeout: float = 0.0) -> None:
        """Take what has arrived; with ``until``, wait (up to ``timeout``) for the event at that position."""
        deadline = time.monotonic() + timeout
        while True:
            last = self.received[-1][0] if self.received else 0
            if until is not None and last >= until:
                return
            remaining = deadline - time.monotonic()
            if until is None and self._reader.events.empty():
                return
            if remaining <= 0 and until is not None:
                raise AssertionError(f"the stream stopped at {last}, not {until}")
            event = self._reader.next(timeout=max(0.01, remaining))
            if event is None:
                raise AssertionError("the stream ended")
            self.received.append((event.id, event.body["id"]))

    def reconnect(self) -> None:
        """Go away and come back after the last event received (a browser's ``EventSource`` sends the header)."""
        self.drain()
        self._reader.close()
        last = self.received[-1][0] if self.received else 0
        self._reader = Reader(self.server, headers={"Last-Event-ID": str(last)})
        self.reconnections += 1

    def close(self) -> None:
        self._reader.close()


class MixedLoad:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(i,)) for i in range(WRITERS)]
        self._threads += [threading.Thread(target=self._read) for _ in range(READERS)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _count(self, response: httpx.Response) -> httpx.Response:
        with self._lock:
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                self.errors.append(f"{response.request.method} {response.request.url.path}: {response.text}")
        return response

    def _write(self, writer: int) -> None:
        interval = 1.0 / WRITES_PER_SECOND_EACH
        with httpx.Client(base_url=self.base_url, headers=AUTH, timeout=10) as http:
            for n in itertools.cycle(range(POOL)):
                number = f"+1555{writer:03d}{n:04d}"
                created = self._count(http.post(ENDPOINTS, json={"phone_number": number, "provider": "twilio"}))
                if created.status_code != 201:
                    self.errors.append(f"create {number}: {created.status_code}")
                    return
                url = f"{ENDPOINTS}/{created.json()['id']}"
                for step in ("label", "outbound_agent_name", "delete"):
                    if self._stop.wait(interval):
                        return
                    if step == "delete":
                        self._count(http.delete(url))
                    else:
                        self._count(http.put(url, json={step: f"{step.split('_')[0]}-{n}"}))
                if self._stop.wait(interval):
                    return

    def _read(self) -> None:
        with httpx.Client(base_url=self.base_url, headers=AUTH, timeout=10) as http:
            while not self._stop.is_set():
                listed = self._count(http.get(ENDPOINTS))
                for endpoint in listed.json()[:3] if listed.status_code == 200 else []:
                    self._count(http.get(f"{ENDPOINTS}/{endpoint['id']}"))  # may be 404: deleted meanwhile
                self._count(http.get("/api/settings/telephony"))


@pytest.mark.postgres
def test_a_minute_of_mixed_load_gives_no_5xx_loses_no_message_and_keeps_memory_flat(
    service_factory: Callable[..., ServiceProcess],
    postgres_url: str,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    data_dir = tmp_path / "data"
    server = service_factory(data_dir=data_dir, database_url=postgres_url)  # with its embedded nats-server
    assert server.process is not None
    subscriber = Subscriber(nats_url_of(data_dir))
    subscriber.start()
    steady, returning = StreamWatcher(server), StreamWatcher(server)
    load = MixedLoad(server.url)
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    load.start()
    try:
        while (elapsed := time.monotonic() - started) < SOAK_SECONDS:
            samples.append((elapsed, _rss_kib(server.process.pid)))
            steady.drain()
            if elapsed >= RECONNECT_EVERY * (returning.reconnections + 1):
                returning.reconnect()
            time.sleep(2.0)
    finally:
        load.stop()
    try:
        with store_events(Settings(data_dir=tmp_path / "check", database_url=postgres_url, nats_url="off")) as events:
            head = last_public_position(events)
            wait_until(
                lambda: subscriber.received and subscriber.received[-1][0] >= head, timeout=30, what="all received"
            )
            time.sleep(0.5)  # a duplicate would arrive by now
            expected = [
                (position, f"{event.originator_id}:{event.originator_version}")
                for position, event in events
                if isinstance(event, PUBLIC_EVENT_TYPES)
            ]
            for watcher in (steady, returning):
                watcher.drain(until=head, timeout=30)
    finally:
        subscriber.stop()
        steady.close()
        returning.close()

    assert load.errors == []
    assert not [status for status in load.statuses if status >= 500]
    assert subscriber.received == expected  # none lost, none twice, in order
    assert steady.received == expected  # the live stream: the same
    assert returning.received == expected  # and across its reconnections
    assert returning.reconnections >= SOAK_SECONDS // RECONNECT_EVERY - 1
    after_warm_up = [rss for at, rss in samples if at >= WARM_UP_SECONDS]
    baseline = after_warm_up[0]
    growth = max(after_warm_up) - baseline
    requests = sum(load.statuses.values())
    record_property(
        "figures",
        f"{requests} requests in {SOAK_SECONDS:.0f} s ({requests / SOAK_SECONDS:.0f}/s), statuses {load.statuses}, "
        f"{len(expected)} messages received once each (NATS, a stream, a stream reconnected "
        f"{returning.reconnections} times), RSS {samples[0][1] // 1024} MiB at start, "
        f"{baseline // 1024} MiB after warm-up, peak {max(after_warm_up) // 1024} MiB",
    )
    # Flat: after warm-up the resident size may wobble (allocator, caches) but not climb with the load.
    assert growth <= max(baseline // 10, 16 * 1024), samples
