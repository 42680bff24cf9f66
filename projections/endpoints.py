"""The endpoints view: every live endpoint by id (in creation order) and by phone number.

``evolve_endpoint`` is the pure fold of one endpoint's events; it is also the state the write side decides on.
``evolve`` folds an event into the whole view. The view is an accumulator that ``evolve`` updates in place and
returns (copying 100k endpoints per event would make a replay quadratic); it does no I/O and reads no clock, so
replaying the same events always gives the same view.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import msgspec

from events import EndpointCreated, EndpointDeleted, EndpointUpdated


class Endpoint(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One endpoint's state. ``gc=False``: it holds only strings, numbers, a UUID and datetimes, so it can never be
    part of a reference cycle; untracked, 100k of them cost less memory and no garbage-collector passes."""

    id: UUID
    phone_number: str  # E.164
    provider: str
    inbound_agent_name: str | None
    outbound_agent_name: str | None
    label: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    version: int


def evolve_endpoint(endpoint: Endpoint | None, event: object) -> Endpoint | None:
    """Pure fold of one endpoint: ``None`` before its creation and after its deletion."""
    if isinstance(event, EndpointCreated):
        return Endpoint(
            id=event.originator_id,
            phone_number=event.phone_number,
            # Few distinct values shared by many endpoints: one string object each, not one per endpoint.
            provider=_intern(event.provider),
            inbound_agent_name=_intern(event.inbound_agent_name),
            outbound_agent_name=_intern(event.outbound_agent_name),
            label=event.label,
            is_active=event.is_active,
            created_at=event.timestamp,
            updated_at=event.timestamp,
            version=event.originator_version,
        )
    if endpoint is None:
        return None
    if isinstance(event, EndpointUpdated):
        return msgspec.structs.replace(
            endpoint, **event.changes, updated_at=event.timestamp, version=event.originator_version
        )
    if isinstance(event, EndpointDeleted):
        return None
    return endpoint


@dataclass
class EndpointsView:
    by_id: dict[UUID, Endpoint] = field(default_factory=dict)
    by_phone_number: dict[str, UUID] = field(default_factory=dict)


def evolve(view: EndpointsView, event: object) -> EndpointsView:
    """Fold ``event`` into ``view`` (in place, see the module docstring) and return it."""
    if not isinstance(event, _ENDPOINT_EVENTS):
        return view
    endpoint_id = event.originator_id
    endpoint = evolve_endpoint(view.by_id.get(endpoint_id), event)
    if endpoint is None:
        removed = view.by_id.pop(endpoint_id, None)
        if removed is not None:
            view.by_phone_number.pop(removed.phone_number, None)
    else:
        view.by_id[endpoint_id] = endpoint
        view.by_phone_number[endpoint.phone_number] = endpoint_id
    return view


_ENDPOINT_EVENTS = (EndpointCreated, EndpointUpdated, EndpointDeleted)


def _intern(value: str | None) -> str | None:
    return None if value is None else sys.intern(value)


def inbound_webhook_url(public_base_url: str | None, provider: str, inbound_agent_name: str | None) -> str | None:
    """``{public_base_url}/telephony/{provider}/inbound/{inbound_agent_name}``, or ``None`` while a part is missing."""
    if not public_base_url or not inbound_agent_name:
        return None
    return f"{public_base_url}/telephony/{provider}/inbound/{inbound_agent_name}"
