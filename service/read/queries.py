"""Queries: plain functions over a settings source (the live read model, or a past state) that return what the
REST API shows. They return versions, not ETags: how a version is written in a header is the HTTP side's business."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from itertools import islice
from typing import Protocol
from uuid import UUID

from events import PROVIDER_FIELDS
from events.wire import EndpointState
from projections import Endpoint, ProviderConfig, SettingsView
from service.read.presenter import ProviderSettings, present_endpoint, present_provider


class SettingsSource(Protocol):
    """What the queries read: ``ReadModel`` (now) and ``PastReadModel`` (at a past moment) both are one."""

    @property
    def position(self) -> int: ...

    def reading(self) -> AbstractContextManager[SettingsView]: ...


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


def _provider_config(source: SettingsSource) -> ProviderConfig:
    with source.reading() as view:
        return view.provider.config


def get_provider_settings(source: SettingsSource) -> ProviderSettings:
    return present_provider(_provider_config(source))


def get_provider_credentials(source: SettingsSource) -> ProviderSettings:
    """The configuration with secrets in clear: only for keys with the ``secrets`` scope."""
    config = _provider_config(source)
    return ProviderSettings(**{name: getattr(config, name) for name in PROVIDER_FIELDS})


def get_endpoint_versioned(source: SettingsSource, endpoint_id: UUID) -> tuple[EndpointState, int, int] | None:
    """The endpoint, its version and the provider settings' version (its webhook URL follows them), from one
    consistent view; ``None`` when there is no such endpoint."""
    with source.reading() as view:
        endpoint = view.endpoints.by_id.get(endpoint_id)
        provider = view.provider
    if endpoint is None:
        return None
    return present_endpoint(endpoint, provider.config.public_base_url), endpoint.version, provider.version


def get_provider_settings_versioned(source: SettingsSource) -> tuple[ProviderSettings, int]:
    with source.reading() as view:
        provider = view.provider
    return present_provider(provider.config), provider.version


def get_endpoint(source: SettingsSource, endpoint_id: UUID) -> EndpointState | None:
    with source.reading() as view:
        endpoint = view.endpoints.by_id.get(endpoint_id)
        base_url = view.provider.config.public_base_url
    return None if endpoint is None else present_endpoint(endpoint, base_url)


def list_endpoints(
    source: SettingsSource, where: EndpointFilter, page: int | None = None, page_size: int | None = None
) -> tuple[list[EndpointState], int]:
    """Endpoints in creation order that match ``where``, one page of them when paging; and the unpaged count."""
    unfiltered = where == NO_FILTER
    with source.reading() as view:
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
