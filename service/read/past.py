"""The settings at a past moment: ``as_of=<time>`` or ``at_position=<N>`` on the settings GET routes.

A past state is the fold of the stored events up to that moment with the same ``projections`` functions the live read
model uses, so it has the same shape (``PastReadModel`` serves the same queries as ``ReadModel``). One endpoint or
the provider reads only its own events (and the provider's, for the webhook URL); a list reads the log up to then.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from events import PUBLIC_EVENT_TYPES, SETTINGS_ID
from projections import SettingsView
from projections.settings import evolve
from service.write.application import SettingsApplication
from service.write.errors import FieldError, InvalidSettingsError
from service.write.log import LogDecoder, aggregate_notifications, notifications, topics_of


def parse_time(name: str, raw: str | None) -> datetime | None:
    """An ISO 8601 timestamp; one without a zone is UTC. A 422 naming ``name`` when it is not one."""
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidSettingsError(
            [FieldError(name, "must be an ISO 8601 timestamp, e.g. 2026-03-18T10:00:00Z (UTC when no zone)")]
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


VIEW_TOPICS = topics_of(*PUBLIC_EVENT_TYPES)
"""The events the settings view folds (the others leave it as it is)."""


@dataclass(frozen=True)
class Moment:
    """A past moment: the events up to a position, or those that occurred at or before a time."""

    position: int | None = None
    as_of: datetime | None = None

    def includes(self, position: int, event: Any) -> bool:
        return (self.position is None or position <= self.position) and (
            self.as_of is None or event.timestamp <= self.as_of
        )


def parse_moment(as_of: str | None, at_position: int | None) -> Moment | None:
    """The moment a query names (``None``: now, the live read model); a 422 for a malformed one. With both, the
    earlier: the events up to the position that occurred at or before the time (``Moment.includes``)."""
    if as_of is None and at_position is None:
        return None
    return Moment(position=at_position, as_of=parse_time("as_of", as_of))


class PastReadModel:
    """A settings view folded up to a moment; serves the functions of ``read.queries`` as ``ReadModel`` does."""

    def __init__(self, view: SettingsView) -> None:
        self._view = view

    @property
    def position(self) -> int:
        return self._view.position

    @contextmanager
    def reading(self) -> Iterator[SettingsView]:
        yield self._view


def _fold(app: SettingsApplication, stored: Iterable[Notification], moment: Moment) -> PastReadModel:
    view = SettingsView()
    to_domain_event = LogDecoder(app).to_domain_event
    for notification in stored:
        event = to_domain_event(notification)
        if moment.includes(notification.id, event):
            evolve(view, event, notification.id)
    return PastReadModel(view)


def settings_at(app: SettingsApplication, moment: Moment) -> PastReadModel:
    """Every endpoint and the provider configuration at ``moment`` (reads the log up to it)."""
    return _fold(app, notifications(app.recorder, topics=VIEW_TOPICS, stop=moment.position), moment)


def provider_at(app: SettingsApplication, moment: Moment) -> PastReadModel:
    """The provider configuration at ``moment`` (reads only the provider's events)."""
    return _fold(app, aggregate_notifications(app.recorder, SETTINGS_ID), moment)


def endpoint_at(app: SettingsApplication, endpoint_id: UUID, moment: Moment) -> PastReadModel:
    """One endpoint (and the provider settings its webhook URL needs) at ``moment``."""
    streams = [aggregate_notifications(app.recorder, aggregate) for aggregate in (endpoint_id, SETTINGS_ID)]
    return _fold(app, heapq.merge(*streams, key=lambda n: n.id), moment)
