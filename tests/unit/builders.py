"""Events as the store would hold them, with fixed timestamps, for the stories the unit tests tell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from events import SETTINGS_ID, EndpointCreated, EndpointDeleted, EndpointUpdated, ProviderUpdated

START = datetime(2026, 3, 18, 10, 0, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def endpoint_created(
    phone_number: str = "+919876543210",
    *,
    endpoint_id: UUID | None = None,
    provider: str = "exotel",
    inbound_agent_name: str | None = "support-agent",
    outbound_agent_name: str | None = "sales-agent",
    label: str | None = "Main support line",
    is_active: bool = True,
    minute: int = 0,
) -> EndpointCreated:
    return EndpointCreated(
        originator_id=endpoint_id or uuid4(),
        originator_version=1,
        timestamp=at(minute),
        actor="anonymous",
        request_id=None,
        phone_number=phone_number,
        provider=provider,
        inbound_agent_name=inbound_agent_name,
        outbound_agent_name=outbound_agent_name,
        label=label,
        is_active=is_active,
    )


def endpoint_updated(
    created: EndpointCreated, version: int, minute: int = 1, **changes: str | bool | None
) -> EndpointUpdated:
    return EndpointUpdated(
        originator_id=created.originator_id,
        originator_version=version,
        timestamp=at(minute),
        actor="anonymous",
        request_id=None,
        phone_number=created.phone_number,
        changes=changes,
    )


def endpoint_deleted(created: EndpointCreated, version: int, minute: int = 2) -> EndpointDeleted:
    return EndpointDeleted(
        originator_id=created.originator_id,
        originator_version=version,
        timestamp=at(minute),
        actor="anonymous",
        request_id=None,
        phone_number=created.phone_number,
    )


def provider_updated(version: int, minute: int = 0, **changes: str | int | None) -> ProviderUpdated:
    return ProviderUpdated(
        originator_id=SETTINGS_ID,
        originator_version=version,
        timestamp=at(minute),
        actor="anonymous",
        request_id=None,
        changes=changes,
    )
