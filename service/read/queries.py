"""Queries: plain functions over the read model that return what the REST API shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from uuid import UUID

from events import PROVIDER_FIELDS
from projections import Endpoint, ProviderConfig, inbound_webhook_url, masked
from service.http.schemas import EndpointOut, ProviderSettings
from service.read.read_model import ReadModel
from service.write.conditions import endpoint_etag, provider_etag


@dataclass(frozen=True)
class EndpointFilter:
    provider: str | None = None
    is_active: bool | None = None
    phone_number: str | None = None  # E.164
    agent: str | None = None

    def matches(self, endpoint: Endpoint) -> bool:
        return (
            (self.provider is None or endpoint.provider == self.provider)
            and (self.is_active is None or endpoint.is_active == self.is_active)
            and (self.phone_number is None or endpoint.phone_number == self.phone_number)
            and (self.agent is None or self.agent in (endpoint.inbound_agent_name, endpoint.outbound_agent_name))
        )


NO_FILTER = EndpointFilter()


def format_time(moment: datetime) -> str:
    if moment.tzinfo is UTC and moment.year >= 1000:  # what the store holds: isoformat is 2x faster than strftime
        return moment.isoformat(timespec="seconds")[:19]
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


PRESENTED_CACHE_SIZE = 20_000
"""How many presented endpoints are kept (a few MB): a page of 100 is then 100 dict look-ups, not 100 structs built."""
_presented: dict[UUID, tuple[Endpoint, str | None, EndpointOut]] = {}


def present_endpoint(endpoint: Endpoint, public_base_url: str | None) -> EndpointOut:
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


def present_endpoint_uncached(endpoint: Endpoint, public_base_url: str | None) -> EndpointOut:
    return EndpointOut(
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


def _provider_config(read_model: ReadModel) -> ProviderConfig:
    with read_model.reading() as view:
        return view.provider.config


def get_provider_settings(read_model: ReadModel) -> ProviderSettings:
    return present_provider(_provider_config(read_model))


def get_provider_credentials(read_model: ReadModel) -> ProviderSettings:
    """The configuration with secrets in clear: only for keys with the ``secrets`` scope."""
    config = _provider_config(read_model)
    return ProviderSettings(**{name: getattr(config, name) for name in PROVIDER_FIELDS})


def get_endpoint_tagged(read_model: ReadModel, endpoint_id: UUID) -> tuple[EndpointOut, str] | None:
    """The endpoint and its ETag, from one consistent view; ``None`` when there is no such endpoint."""
    with read_model.reading() as view:
        endpoint = view.endpoints.by_id.get(endpoint_id)
        provider = view.provider
    if endpoint is None:
        return None
    etag = endpoint_etag(endpoint.version, provider.version)
    return present_endpoint(endpoint, provider.config.public_base_url), etag


def get_provider_settings_tagged(read_model: ReadModel) -> tuple[ProviderSettings, str]:
    with read_model.reading() as view:
        provider = view.provider
    return present_provider(provider.config), provider_etag(provider.version)


def get_endpoint(read_model: ReadModel, endpoint_id: UUID) -> EndpointOut | None:
    with read_model.reading() as view:
        endpoint = view.endpoints.by_id.get(endpoint_id)
        base_url = view.provider.config.public_base_url
    return None if endpoint is None else present_endpoint(endpoint, base_url)


def list_endpoints(
    read_model: ReadModel, where: EndpointFilter, page: int | None = None, page_size: int | None = None
) -> tuple[list[EndpointOut], int]:
    """Endpoints in creation order that match ``where``, one page of them when paging; and the unpaged count."""
    unfiltered = where == NO_FILTER
    with read_model.reading() as view:
        base_url = view.provider.config.public_base_url
        if unfiltered:  # the common dashboard call: slice the creation-ordered dict, copy nothing else
            by_id = view.endpoints.by_id
            total = len(by_id)
            if page is not None and page_size is not None:
                start = min((page - 1) * page_size, total)  # any page number a client sends, however large
                page_items = list(islice(by_id.values(), start, min(start + page_size, total)))
            else:
                page_items = list(by_id.values())
        elif where.phone_number is not None:
            endpoint_id = view.endpoints.by_phone_number.get(where.phone_number)
            candidates = [view.endpoints.by_id[endpoint_id]] if endpoint_id is not None else []
        else:
            candidates = list(view.endpoints.by_id.values())
    if unfiltered:
        return [present_endpoint(endpoint, base_url) for endpoint in page_items], total
    matching = [endpoint for endpoint in candidates if where.matches(endpoint)]
    total = len(matching)
    if page is not None and page_size is not None:
        matching = matching[(page - 1) * page_size : page * page_size]
    return [present_endpoint(endpoint, base_url) for endpoint in matching], total
