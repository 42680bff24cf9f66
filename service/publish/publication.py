"""What the relay sends for one stored event: a stream message and the KV changes it implies. Pure: the relay
folds the same ``projections`` view the read side uses and asks this module for the messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC

from events import (
    PUBLIC_EVENT_TYPES,
    SECRET_FIELDS,
    EndpointCreated,
    EndpointDeleted,
    EndpointUpdated,
    ProviderUpdated,
    wire,
)
from projections import Endpoint, ProviderConfig, SettingsView, inbound_webhook_url
from projections.settings import evolve
from service.read.presenter import present_endpoint_uncached

CREATED_FIELDS = ("phone_number", "provider", "inbound_agent_name", "outbound_agent_name", "label", "is_active")
"""What a creation reports as ``changed``: every field it set."""
ACTIONS = {EndpointCreated: "created", EndpointUpdated: "updated", EndpointDeleted: "deleted"}


@dataclass
class Publication:
    subject: str
    headers: dict[str, str]
    body: bytes
    kv_put: dict[str, bytes] = field(default_factory=dict)
    kv_delete: list[str] = field(default_factory=list)


def route(endpoint: Endpoint, public_base_url: str | None, position: int) -> wire.Route:
    return wire.Route(
        endpoint_id=str(endpoint.id),
        phone_number=endpoint.phone_number,
        provider=endpoint.provider,
        inbound_agent_name=endpoint.inbound_agent_name,
        outbound_agent_name=endpoint.outbound_agent_name,
        inbound_webhook_url=inbound_webhook_url(public_base_url, endpoint.provider, endpoint.inbound_agent_name),
        is_active=endpoint.is_active,
        position=position,
    )


def public_provider(config: ProviderConfig) -> wire.PublicProviderConfig:
    values = {
        name: ("set" if value else "not set") if name in SECRET_FIELDS else value
        for name in wire.PublicProviderConfig.__struct_fields__
        for value in [getattr(config, name)]
    }
    return wire.PublicProviderConfig(**values)


def all_routes(view: SettingsView, position: int) -> dict[str, bytes]:
    base_url = view.provider.config.public_base_url
    return {
        wire.route_key(endpoint.phone_number): wire.encode(route(endpoint, base_url, position))
        for endpoint in view.endpoints.by_id.values()
    }


def advance(view: SettingsView, event: object, position: int, with_kv: bool = True) -> Publication | None:
    """Fold ``event`` into ``view`` and return what to publish for it (``None`` for internal events); without
    ``with_kv``, the message alone (a change of ``public_base_url`` then costs no route per endpoint)."""
    before = view.endpoints.by_id.get(event.originator_id) if isinstance(event, EndpointDeleted) else None
    evolve(view, event, position)
    if not isinstance(event, PUBLIC_EVENT_TYPES):
        return None
    msg_id = f"{event.originator_id}:{event.originator_version}"
    headers = {
        wire.HEADER_MSG_ID: msg_id,
        wire.HEADER_EVENT_TYPE: type(event).__name__,
        wire.HEADER_POSITION: str(position),
    }
    if event.change_set is not None:
        headers[wire.HEADER_CHANGE_SET] = str(event.change_set)
    common = {
        "id": msg_id,
        "position": position,
        "occurred_at": event.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": event.actor,
    }
    base_url = view.provider.config.public_base_url
    if isinstance(event, ProviderUpdated):
        body = wire.ProviderMessage(
            type="ProviderUpdated",
            changed=list(event.changes),
            provider=public_provider(view.provider.config),
            **common,
        )
        kv_put = {wire.KV_PROVIDER_KEY: wire.encode(public_provider(view.provider.config))} if with_kv else {}
        if with_kv and "public_base_url" in event.changes:
            kv_put.update(all_routes(view, position))
        return Publication(wire.PROVIDER_SUBJECT, headers, wire.encode(body), kv_put=kv_put)
    kv_put: dict[str, bytes] = {}
    kv_delete: list[str] = []
    if isinstance(event, EndpointDeleted):
        if before is None:  # cannot happen for a consistent log; publish nothing rather than guess
            return None
        endpoint, changed = before, []
        kv_delete.append(wire.route_key(event.phone_number))
    else:
        endpoint = view.endpoints.by_id[event.originator_id]
        changed = list(event.changes) if isinstance(event, EndpointUpdated) else list(CREATED_FIELDS)
        kv_put[wire.route_key(endpoint.phone_number)] = wire.encode(route(endpoint, base_url, position))
    body = wire.EndpointMessage(
        type=type(event).__name__,  # type: ignore[arg-type]
        changed=changed,
        endpoint=present_endpoint_uncached(endpoint, base_url),  # the relay's own view: keep out of the cache
        **common,
    )
    subject = wire.endpoint_subject(endpoint.phone_number, ACTIONS[type(event)])  # type: ignore[arg-type]
    return Publication(subject, headers, wire.encode(body), kv_put=kv_put, kv_delete=kv_delete)
