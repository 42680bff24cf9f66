"""The audit read side: the change history (who changed what, when) and the settings at any past moment.

Everything here reads the event store directly, in batches of ``select_notifications`` (or, for one aggregate, by
its indexed rows), and never holds the whole history: the history is presented one event at a time, and a past
state is the fold of the events up to that moment with the same ``projections`` functions the live read model
uses. Secret values are masked in every record (``"****"`` + last 4), as in every other response.

The history lists the public events (``events.PUBLIC_EVENT_TYPES``); the internal bookkeeping events (phone-number
claims, idempotency keys) carry no configuration change of their own.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from events import (
    PROVIDER_FIELDS,
    PUBLIC_EVENT_TYPES,
    SECRET_FIELDS,
    SETTINGS_ID,
    EndpointCreated,
    EndpointDeleted,
    EndpointUpdated,
    PhoneNumberClaimed,
    ProviderUpdated,
)
from projections import mask_secret
from service.write.application import SettingsApplication
from service.write.errors import FieldError, InvalidSettingsError
from service.write.log import LogDecoder, aggregate_notifications, notifications

BATCH_SIZE = 1000
SCAN_LIMIT = 20_000
"""Most stored events one page request reads; a page may then hold fewer events than ``limit`` (see next_after)."""

EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in PUBLIC_EVENT_TYPES}
TOPICS: dict[str, str] = {name: get_topic(cls) for name, cls in EVENT_TYPES.items()}
PHONE_NUMBER_FIELDS = tuple(name for name in PROVIDER_FIELDS if name.endswith("_phone_number"))


class AuditEvent(msgspec.Struct, kw_only=True):
    """One change, as the audit routes and the export show it (secrets masked)."""

    position: int
    type: str
    aggregate_id: str
    version: int
    occurred_at: str  # UTC, ISO 8601 with microseconds
    actor: str
    request_id: str | None
    change_set: str | None = None
    """The change set (``POST /api/settings/changes``) that stored it; null for a single change."""
    data: dict[str, Any]


class AuditPage(msgspec.Struct, kw_only=True):
    events: list[AuditEvent]
    next_after: int | None
    """Pass as ``after`` for the next page; ``null`` when the history has no more events for these filters."""


# -- presenting --------------------------------------------------------------------------------------------------


def occurred_at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _shown(name: str, value: Any) -> Any:
    return mask_secret(value) if name in SECRET_FIELDS else value


def _changes(changes: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    # Events stored before version 2 did not record the old values: "old" is then absent, never guessed.
    return {
        name: ({"old": _shown(name, previous.get(name))} if previous is not None else {}) | {"new": _shown(name, new)}
        for name, new in changes.items()
    }


def present(position: int, event: Any) -> AuditEvent:
    if isinstance(event, EndpointCreated):
        data: dict[str, Any] = {
            "phone_number": event.phone_number,
            "provider": event.provider,
            "inbound_agent_name": event.inbound_agent_name,
            "outbound_agent_name": event.outbound_agent_name,
            "label": event.label,
            "is_active": event.is_active,
        }
    elif isinstance(event, EndpointUpdated):
        data = {"phone_number": event.phone_number, "changes": _changes(event.changes, event.previous)}
    elif isinstance(event, EndpointDeleted):
        data = {"phone_number": event.phone_number}
    elif isinstance(event, ProviderUpdated):
        data = {"changes": _changes(event.changes, event.previous)}
    else:
        raise TypeError(f"not an audited event: {type(event).__name__}")
    return AuditEvent(
        position=position,
        type=type(event).__name__,
        aggregate_id=str(event.originator_id),
        version=event.originator_version,
        occurred_at=occurred_at(event.timestamp),
        actor=event.actor,
        request_id=event.request_id,
        change_set=str(event.change_set) if event.change_set is not None else None,
        data=data,
    )


# -- filters -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    types: tuple[str, ...] = ()
    """Event type names; empty: every audited type."""
    aggregate_id: UUID | None = None
    phone_number: str | None = None  # E.164
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    change_set: UUID | None = None

    def __post_init__(self) -> None:
        unknown = [name for name in self.types if name not in EVENT_TYPES]
        if unknown:
            raise InvalidSettingsError([FieldError("type", f"must be one of {', '.join(EVENT_TYPES)}")])

    @property
    def topics(self) -> list[str]:
        return [TOPICS[name] for name in (self.types or tuple(EVENT_TYPES))]

    def matches(self, event: Any) -> bool:
        return (
            (self.actor is None or event.actor == self.actor)
            and (self.change_set is None or event.change_set == self.change_set)
            and (self.since is None or event.timestamp >= self.since)
            and (self.until is None or event.timestamp <= self.until)
            and (self.aggregate_id is None or event.originator_id == self.aggregate_id)
            and (self.phone_number is None or _mentions(event, self.phone_number))
        )


def _mentions(event: Any, e164: str) -> bool:
    if isinstance(event, ProviderUpdated):
        values = [*event.changes.items(), *(event.previous or {}).items()]
        return any(name in PHONE_NUMBER_FIELDS and value == e164 for name, value in values)
    return getattr(event, "phone_number", None) == e164


def _aggregates_of(app: SettingsApplication, where: AuditFilter) -> list[UUID] | None:
    """The aggregates a filter confines the history to; ``None`` when it names none (the whole log is read)."""
    candidates: set[UUID] | None = None
    if where.aggregate_id is not None:
        candidates = {where.aggregate_id}
    if where.phone_number is not None:
        claims = app.events.get(app.ids.phone_number_index(where.phone_number))
        holders = {event.endpoint_id for event in claims if isinstance(event, PhoneNumberClaimed)}
        holders.add(SETTINGS_ID)  # the provider's own phone numbers
        candidates = holders if candidates is None else candidates & holders
    return None if candidates is None else sorted(candidates)


def _candidates(app: SettingsApplication, where: AuditFilter, after: int) -> Iterator[Notification]:
    aggregates = _aggregates_of(app, where)
    topics = set(where.topics)
    if aggregates is None:
        yield from notifications(app.recorder, after, topics=where.topics)
        return
    streams = [
        [n for n in aggregate_notifications(app.recorder, aggregate_id) if n.id > after and n.topic in topics]
        for aggregate_id in aggregates
    ]
    yield from heapq.merge(*streams, key=lambda n: n.id)


def list_events(app: SettingsApplication, where: AuditFilter, after: int = 0, limit: int = 100) -> AuditPage:
    """One page of the history after position ``after``: at most ``limit`` events, and where to continue."""
    events: list[AuditEvent] = []
    last_seen: int | None = None
    to_domain_event = LogDecoder(app).to_domain_event
    for scanned, notification in enumerate(_candidates(app, where, after)):
        if len(events) == limit or scanned == SCAN_LIMIT:
            return AuditPage(events=events, next_after=last_seen)
        last_seen = notification.id
        event = to_domain_event(notification)
        if where.matches(event):
            events.append(present(notification.id, event))
    return AuditPage(events=events, next_after=None)


def iter_events(app: SettingsApplication, after: int = 0, until: datetime | None = None) -> Iterator[AuditEvent]:
    """The whole history after ``after`` (up to the time ``until``), one event at a time, for the export."""
    where = AuditFilter(until=until)
    to_domain_event = LogDecoder(app).to_domain_event
    for notification in notifications(app.recorder, after, topics=where.topics):
        event = to_domain_event(notification)
        if where.matches(event):
            yield present(notification.id, event)
