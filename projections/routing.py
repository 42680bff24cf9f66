"""The routing table a call router keeps: the current route of every phone number.

Fed either by the KV bucket (``apply_kv``: initial values, then live updates) or by the stream
(``apply_message``: each message carries the full resulting state). Pure, no I/O; ``projections.watch`` keeps
one current from NATS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from events import wire
from events.phone_numbers import to_e164
from projections.endpoints import inbound_webhook_url


@dataclass
class RoutingTable:
    routes: dict[str, wire.Route] = field(default_factory=dict)
    """By E.164 number."""
    provider: wire.PublicProviderConfig | None = None
    position: int = 0
    """Store position of the newest change applied."""

    def lookup(self, phone_number: str) -> wire.Route | None:
        """The route of a number in any spelling (``+1 (555) 123-4567``); ``None`` if unknown or unparseable."""
        try:
            return self.routes.get(to_e164(phone_number))
        except ValueError:
            return None

    def apply_kv(self, key: str, value: bytes | None) -> wire.Route | wire.PublicProviderConfig | None:
        """Apply one KV entry (``value`` ``None`` for a delete or purge); returns the new value."""
        if key == wire.KV_PROVIDER_KEY:
            self.provider = None if value is None else wire.decode_provider(value)
            return self.provider
        if not key.startswith(wire.KV_ROUTE_PREFIX):
            return None
        e164 = "+" + key[len(wire.KV_ROUTE_PREFIX) :]
        if value is None:
            self.routes.pop(e164, None)
            return None
        route = wire.decode_route(value)
        self.routes[route.phone_number] = route
        self.position = max(self.position, route.position)
        return route

    def apply_message(self, subject: str, body: bytes) -> None:
        """Apply one stream message (``telephony.settings.>``), in stream order."""
        if subject == wire.PROVIDER_SUBJECT:
            message = wire.decode_provider_message(body)
            old_base = self.provider.public_base_url if self.provider else None
            self.provider = message.provider
            if message.provider.public_base_url != old_base:
                for e164, route in self.routes.items():
                    url = _webhook(message.provider.public_base_url, route)
                    self.routes[e164] = msgspec.structs.replace(
                        route, inbound_webhook_url=url, position=message.position
                    )
            self.position = message.position
            return
        endpoint_message = wire.decode_endpoint_message(body)
        state = endpoint_message.endpoint
        if endpoint_message.type == "EndpointDeleted":
            self.routes.pop(state.phone_number, None)
        else:
            self.routes[state.phone_number] = wire.Route(
                endpoint_id=state.id,
                phone_number=state.phone_number,
                provider=state.provider,
                inbound_agent_name=state.inbound_agent_name,
                outbound_agent_name=state.outbound_agent_name,
                inbound_webhook_url=state.inbound_webhook_url,
                is_active=state.is_active,
                position=endpoint_message.position,
            )
        self.position = endpoint_message.position


def _webhook(base_url: str | None, route: wire.Route) -> str | None:
    return inbound_webhook_url(base_url, route.provider, route.inbound_agent_name)
