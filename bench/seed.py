"""Fast seeding of event stores: domain events built directly and saved through the application in big batches.

Each endpoint costs two stored events (``EndpointCreated`` and the internal ``PhoneNumberClaimed`` saved with it,
exactly as a POST stores them); updates add one ``EndpointUpdated`` each. Nothing goes through HTTP, so a million
events take well under a minute on SQLite.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from eventsourcing.domain import DomainEvent

from events import SETTINGS_ID, EndpointCreated, EndpointUpdated, PhoneNumberClaimed, ProviderUpdated
from service.write.application import SettingsApplication
from service.write.decisions import phone_number_index_id

PUBLIC_BASE_URL = "https://bench.example.com"
BATCH_EVENTS = 4000


def phone_number(n: int) -> str:
    """The ``n``-th seeded number: a possible North American number in E.164, distinct for n < 7e9."""
    return f"+1{201 + (n // 10_000_000) % 700}{n % 10_000_000:07d}"


@dataclass
class SeedResult:
    events: int
    endpoints: int
    seconds: float
    endpoint_ids: list[str]
    head: int


def _provider_event(version: int = 1) -> ProviderUpdated:
    return ProviderUpdated(
        originator_id=SETTINGS_ID,
        originator_version=version,
        timestamp=DomainEvent.create_timestamp(),
        actor="bench",
        request_id=None,
        changes={
            "provider": "twilio",
            "public_base_url": PUBLIC_BASE_URL,
            "twilio_account_sid": "AC0123456789abcdef0123456789abcdef",
            "twilio_auth_token": "bench_auth_token",
        },
    )


def _events(endpoints: int, updates: int, offset: int) -> Iterator[DomainEvent]:
    """``endpoints`` creations, then ``updates`` updates spread over them (label changes)."""
    stamp = DomainEvent.create_timestamp()
    ids: list[uuid.UUID] = []
    for i in range(endpoints):
        endpoint_id = uuid.uuid4()
        ids.append(endpoint_id)
        number = phone_number(offset + i)
        common = {"timestamp": stamp, "actor": "bench", "request_id": None}
        yield EndpointCreated(
            originator_id=endpoint_id,
            originator_version=1,
            phone_number=number,
            provider=("twilio", "exotel", "vobiz")[i % 3],
            inbound_agent_name=f"agent-{i % 50}",
            outbound_agent_name=f"sales-{i % 7}" if i % 2 else None,
            label=f"line {i}",
            is_active=i % 10 != 0,
            **common,
        )
        yield PhoneNumberClaimed(
            originator_id=phone_number_index_id(number),
            originator_version=1,
            phone_number=number,
            endpoint_id=endpoint_id,
            **common,
        )
    versions = dict.fromkeys(ids, 1)
    for j in range(updates):
        endpoint_id = ids[(j * 7919) % len(ids)]
        versions[endpoint_id] += 1
        yield EndpointUpdated(
            originator_id=endpoint_id,
            originator_version=versions[endpoint_id],
            timestamp=stamp,
            actor="bench",
            request_id=None,
            phone_number="",  # filled below
            changes={"label": f"relabelled {j}", "is_active": bool(j % 2)},
        )


def seed_store(
    store_env: Mapping[str, str], events: int, endpoints: int | None = None, keep_ids: int = 0, offset: int = 0
) -> SeedResult:
    """Store about ``events`` events: a provider configuration, ``endpoints`` endpoints (2 events each; by default
    as many as fit in 70 % of the events) and updates for the rest. Returns the first ``keep_ids`` endpoint ids."""
    if endpoints is None:
        endpoints = max(1, int(events * 0.7) // 2)
    updates = max(0, events - 1 - 2 * endpoints)
    app = SettingsApplication(store_env)
    started = time.perf_counter()
    try:
        app.save(_provider_event())
        numbers: dict[uuid.UUID, str] = {}
        kept: list[str] = []
        batch: list[DomainEvent] = []
        total = 1
        for event in _events(endpoints, updates, offset):
            if isinstance(event, EndpointCreated):
                numbers[event.originator_id] = event.phone_number
                if len(kept) < keep_ids:
                    kept.append(str(event.originator_id))
            elif isinstance(event, EndpointUpdated):
                object.__setattr__(event, "phone_number", numbers[event.originator_id])
            batch.append(event)
            if len(batch) >= BATCH_EVENTS and not isinstance(event, EndpointCreated):
                app.save(*batch)
                total += len(batch)
                batch = []
        if batch:
            app.save(*batch)
            total += len(batch)
        head = app.recorder.max_notification_id() or 0
    finally:
        app.close()
    return SeedResult(total, endpoints, time.perf_counter() - started, kept, head)
