"""How the settings are shown: one presenter for the REST API and the NATS messages alike.

An endpoint is shown as ``events.wire.EndpointState`` (its computed ``inbound_webhook_url`` included) in GET/POST/PUT
answers and in the ``endpoint`` of every stream message; the provider configuration as ``ProviderSettings``, secrets
masked (``"****"`` + their last 4 characters).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct

from events.provider import ProviderName
from events.wire import EndpointState
from projections import Endpoint, ProviderConfig, inbound_webhook_url, masked


class ProviderSettings(Struct, kw_only=True):
    """The provider configuration; secret fields are masked: ``"****"`` + their last 4 characters.

    Examples: the API reference's GET response (its secrets shown masked).
    """

    provider: ProviderName
    public_base_url: Annotated[str | None, Meta(examples=["https://your-domain.com"])]
    twilio_account_sid: Annotated[str | None, Meta(examples=["AC00000000000000000000000000000000"])]
    twilio_auth_token: Annotated[str | None, Meta(examples=["****oken"])]
    twilio_phone_number: Annotated[str | None, Meta(examples=["+15551234567"])]
    twilio_max_concurrent: Annotated[int, Meta(examples=[10])]
    exotel_account_sid: Annotated[str | None, Meta(examples=[None])]
    exotel_api_key: Annotated[str | None, Meta(examples=[None])]
    exotel_api_token: Annotated[str | None, Meta(examples=[None])]
    exotel_phone_number: Annotated[str | None, Meta(examples=[None])]
    exotel_api_base: Annotated[str | None, Meta(examples=[None])]
    exotel_max_concurrent: Annotated[int, Meta(examples=[5])]
    vobiz_auth_id: Annotated[str | None, Meta(examples=[None])]
    vobiz_auth_token: Annotated[str | None, Meta(examples=[None])]
    vobiz_phone_number: Annotated[str | None, Meta(examples=[None])]
    vobiz_max_concurrent: Annotated[int, Meta(examples=[5])]


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
    return ProviderSettings(**masked(config))  # type: ignore[arg-type]
