"""How the settings are shown: one presenter for the REST API and the NATS messages alike.

An endpoint is shown as ``events.wire.EndpointState`` (its computed ``inbound_webhook_url`` included) in GET/POST/PUT
answers and in the ``endpoint`` of every stream message; the provider configuration as ``ProviderSettings``, secrets
masked (``"****"`` + their last 4 characters).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from events.provider import ProviderName
from events.wire import EndpointState
from projections import Endpoint, ProviderConfig, inbound_webhook_url, masked


def _provider_settings() -> type[Struct]:
    """``ProviderSettings``: the fields of ``ProviderConfig`` (declared once, there), each documented with its value
    in the API reference's GET example, as shown (secrets masked)."""
    shown = masked(ProviderConfig(**PROVIDER_EXAMPLE))
    fields = []
    for item in msgspec.structs.fields(ProviderConfig):
        kind = ProviderName if item.name == PROVIDER else item.type
        fields.append((item.name, Annotated[kind, Meta(examples=[shown[item.name]])]))
    settings = msgspec.defstruct("ProviderSettings", fields, kw_only=True, module=__name__)
    settings.__doc__ = 'The provider configuration; secret fields are masked: ``"****"`` + their last 4 characters.'
    return settings


PROVIDER = "provider"
PROVIDER_EXAMPLE = {
    "provider": "twilio",
    "public_base_url": "https://your-domain.com",
    "twilio_account_sid": "AC" + "0" * 32,
    "twilio_auth_token": "your_auth_token",
    "twilio_phone_number": "+15551234567",
}
"""The API reference's GET example (what is not set there keeps its default)."""
ProviderSettings = _provider_settings()


def format_time(moment: datetime) -> str:
    if moment.tzinfo is UTC and moment.year >= 1000:  # what the store holds: isoformat is 2x faster than strftime
        return moment.isoformat(timespec="seconds")[:19]
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


PRESENTED_CACHE_SIZE = 20_000
"""How many presented endpoints are kept (a few MB): a page of 100 is then 100 dict look-ups, not 100 structs built."""
_presented: dict[UUID, tuple[Endpoint, str | None, EndpointState]] = {}


def present_endpoint(endpoint: Endpoint, public_base_url: str | None) -> EndpointState:
    """The endpoint as the API shows it. Endpoints are immutable and replaced on every change, so a presentation
    made for this very object and base URL is still exact; callers treat the result as read-only."""
    cached = _presented.get(endpoint.id)
    if cached is not None and cached[0] is endpoint and cached[1] == public_base_url:
        return cached[2]
    presented = present_endpoint_uncached(endpoint, public_base_url)
    if len(_presented) >= PRESENTED_CACHE_SIZE:
        _presented.clear()  # crude but cheap; the hot pages come back at once
    _presented[endpoint.id] = (endpoint, public_base_url, presented)
    return presented


def present_endpoint_uncached(endpoint: Endpoint, public_base_url: str | None) -> EndpointState:
    return EndpointState(
        id=str(endpoint.id),
        phone_number=endpoint.phone_number,
        provider=endpoint.provider,  # type: ignore[arg-type]
        inbound_agent_name=endpoint.inbound_agent_name,
        outbound_agent_name=endpoint.outbound_agent_name,
        label=endpoint.label,
        is_active=endpoint.is_active,
        created_at=format_time(endpoint.created_at),
        updated_at=format_time(endpoint.updated_at),
        inbound_webhook_url=inbound_webhook_url(public_base_url, endpoint.provider, endpoint.inbound_agent_name),
    )


def present_provider(config: ProviderConfig) -> ProviderSettings:
    return ProviderSettings(**masked(config))
