"""Support of the reliability tests: a steady write load that records what was acknowledged, and checks of the store
and the stream against it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from events import PUBLIC_EVENT_TYPES, EndpointCreated, EndpointDeleted, PhoneNumberClaimed, PhoneNumberReleased, wire
from service.container import build_container
from service.settings import Settings
from service.write.decisions import phone_number_index_id
from tests.clients import AUTH
from tests.nats_support import StreamMessage

ENDPOINTS = "/api/settings/endpoints"


@dataclass
class Ledger:
    """What one writer was told. An operation in flight when the server died may or may not have happened."""

    labels: dict[str, str] = field(default_factory=dict)  # endpoint id -> last acknowledged label
    deleted: set[str] = field(default_factory=set)  # acknowledged deletes
    in_flight: dict[str, Any] = field(default_factory=dict)  # endpoint id -> the unacknowledged change
    server_errors: list[str] = field(default_factory=list)  # any 5xx: never expected
    acknowledged: int = 0


class WriteLoad:
    """``writers`` threads, each creating endpoints on its own numbers, relabelling and deleting them, until stopped.

    Every answer is recorded in the writer's ``Ledger``; a transport error (the server died) ends that writer.
    """

    def __init__(self, base_url: str, writers: int = 6, prefix: str = "+1555") -> None:
        self.base_url = base_url
        self.ledgers = [Ledger() for _ in range(writers)]
        self._prefix = prefix
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(i,), daemon=True) for i in range(writers)]

    def start(self) -> WriteLoad:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    @property
    def acknowledged(self) -> int:
        return sum(ledger.acknowledged for ledger in self.ledgers)

    def _write(self, writer: int) -> None:
        ledger = self.ledgers[writer]
        with httpx.Client(base_url=self.base_url, headers=AUTH, timeout=10) as http:
            for n in itertools.count():
                if self._stop.is_set():
                    return
                number = f"{self._prefix}{writer:02d}{n:05d}"
                try:
                    self._one_round(http, ledger, number, n)
                except httpx.TransportError:
                    return  # the server is gone: what is in flight stays recorded as such

    def _one_round(self, http: httpx.Client, ledger: Ledger, number: str, n: int) -> None:
        ledger.in_flight["new"] = number
        created = http.post(ENDPOINTS, json={"phone_number": number, "provider": "twilio", "label": "v0"})
        self._check(ledger, created, 201)
        endpoint_id = created.json()["id"]
        del ledger.in_flight["new"]
        ledger.labels[endpoint_id] = "v0"
        ledger.acknowledged += 1
        for version in (1, 2):
            label = f"v{version}"
            ledger.in_flight[endpoint_id] = label
            self._check(ledger, http.put(f"{ENDPOINTS}/{endpoint_id}", json={"label": label}), 200)
            del ledger.in_flight[endpoint_id]
            ledger.labels[endpoint_id] = label
            ledger.acknowledged += 1
        if n % 3 == 0:
            ledger.in_flight[endpoint_id] = "deleted"
            self._check(ledger, http.delete(f"{ENDPOINTS}/{endpoint_id}"), 204)
            del ledger.in_flight[endpoint_id]
            ledger.deleted.add(endpoint_id)
            ledger.acknowledged += 1

    @staticmethod
    def _check(ledger: Ledger, response: httpx.Response, expected: int) -> None:
        if response.status_code >= 500:
            ledger.server_errors.append(f"{response.request.method} {response.status_code} {response.text}")
        assert response.status_code == expected, response.text


def assert_every_acknowledged_change_is_served(load: WriteLoad, http: httpx.Client) -> int:
    """Each acknowledged endpoint is there with its last acknowledged label (or the unacknowledged one that was in
    flight), unless deleted. Returns how many endpoints were checked."""
    served = {e["id"]: e for e in http.get(ENDPOINTS).json()}
    checked = 0
    for ledger in load.ledgers:
        for endpoint_id, label in ledger.labels.items():
            checked += 1
            in_flight = ledger.in_flight.get(endpoint_id)
            if endpoint_id in ledger.deleted:
                assert endpoint_id not in served, f"acknowledged delete of {endpoint_id} lost"
            elif in_flight == "deleted" and endpoint_id not in served:
                continue  # the delete in flight happened
            else:
                assert endpoint_id in served, f"acknowledged endpoint {endpoint_id} lost"
                assert served[endpoint_id]["label"] in {label, in_flight}, (endpoint_id, label, in_flight)
    return checked


@contextmanager
def store_events(settings: Settings) -> Iterator[list[tuple[int, Any]]]:
    """Every stored event with its position, read straight from the store."""
    container = build_container(settings)
    try:
        notifications = container.app.recorder.select_notifications(start=1, limit=10_000_000)
        yield [(n.id, container.app.mapper.to_domain_event(n)) for n in notifications]
    finally:
        container.close()


def assert_no_half_applied_change(events: list[tuple[int, Any]]) -> None:
    """Every endpoint creation has its phone-number claim and every deletion its release, stored at the same time
    (adjacent positions of one save), and the index ends up pointing at exactly the live endpoints."""
    by_position = dict(events)
    live: dict[str, Any] = {}
    claims: dict[Any, Any] = {}
    for position, event in events:
        if isinstance(event, EndpointCreated | EndpointDeleted):
            partner = by_position.get(position + 1)
            kind = PhoneNumberClaimed if isinstance(event, EndpointCreated) else PhoneNumberReleased
            assert isinstance(partner, kind), f"{type(event).__name__} at {position} without its {kind.__name__}"
            assert partner.endpoint_id == event.originator_id
            assert partner.originator_id == phone_number_index_id(event.phone_number)
        if isinstance(event, EndpointCreated):
            live[event.phone_number] = event.originator_id
        elif isinstance(event, EndpointDeleted):
            live.pop(event.phone_number)
        elif isinstance(event, PhoneNumberClaimed):
            claims[event.phone_number] = event.endpoint_id
        elif isinstance(event, PhoneNumberReleased):
            claims.pop(event.phone_number)
    assert claims == live


def assert_stream_holds_each_public_event_once(events: list[tuple[int, Any]], messages: list[StreamMessage]) -> None:
    expected = [
        (position, f"{event.originator_id}:{event.originator_version}")
        for position, event in events
        if isinstance(event, PUBLIC_EVENT_TYPES)
    ]
    published = [(int(m.headers[wire.HEADER_POSITION]), m.headers[wire.HEADER_MSG_ID]) for m in messages]
    assert len(published) == len(set(published)), "an event was published twice"
    assert published == expected


def last_public_position(events: list[tuple[int, Any]]) -> int:
    return max(position for position, event in events if isinstance(event, PUBLIC_EVENT_TYPES))


def nats_url_of(data_dir: Path) -> str:
    return (data_dir / "nats" / "url").read_text().strip()
